package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/watchtower-fleet/watchtower/live"
)

// sse is a server-sent events client.
type sse struct {
	res    *http.Response
	events chan sseMsg
}

type sseMsg struct {
	name string
	data map[string]any
}

func (f *fx) stream(t *testing.T, path, key string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{res: res, events: make(chan sseMsg, 1000)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var m map[string]any
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m)
				s.events <- sseMsg{name, m}
			case strings.HasPrefix(line, ": ping"):
				s.events <- sseMsg{name: "ping"}
			}
		}
	}()
	return s
}

// next returns the next event other than a ping, within d.
func (s *sse) next(t *testing.T, d time.Duration) sseMsg {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-s.events:
			if !ok {
				t.Fatal("stream closed")
			}
			if m.name != "ping" {
				return m
			}
		case <-timeout:
			t.Fatalf("no event within %v", d)
		}
	}
}

func position(truck string, lat float64) live.Event {
	lng := 3.36
	return live.Event{Type: live.TypePosition, Truck: truck, At: time.Now(), Lat: &lat, Lng: &lng, CorrelationID: "1-0"}
}

// A truck stream starts with each named truck's snapshot, then gets the
// positions of those trucks only, on whichever replica it is connected
// to; idle, it is pinged.
func TestStreamTrucks(t *testing.T) {
	a := newFx(t)
	b := newFxOn(t, a.db, a.rdb, a.prefix)
	sa := a.stream(t, "/api/v1/stream/trucks?numbers=t-11985-la", a.viewer)
	sb := b.stream(t, "/api/v1/stream/trucks?numbers=11985,T63530LA&access_token="+a.viewer, "")
	if m := sa.next(t, time.Second); m.name != "snapshot" || m.data["truck"] != "T11985LA" {
		t.Fatalf("first event %v", m)
	}
	for _, want := range []string{"T11985LA", "T63530LA"} {
		if m := sb.next(t, time.Second); m.name != "snapshot" || m.data["truck"] != want {
			t.Fatalf("snapshot %v, want %s", m, want)
		}
	}
	a.pub.Publish(context.Background(), []live.Event{position("T63530LA", 6.6), position("T11985LA", 6.5)})
	if m := sa.next(t, time.Second); m.name != "position" || m.data["truck"] != "T11985LA" || m.data["lat"] != 6.5 || m.data["correlation_id"] != "1-0" {
		t.Fatalf("replica a: %v", m)
	}
	got := map[string]bool{}
	for range 2 {
		m := sb.next(t, time.Second)
		got[m.data["truck"].(string)] = m.name == "position"
	}
	if !got["T11985LA"] || !got["T63530LA"] {
		t.Errorf("replica b saw %v", got)
	}
	// Heartbeats while idle.
	select {
	case m := <-sa.events:
		if m.name != "ping" {
			t.Errorf("an event for another truck reached the stream: %v", m)
		}
	case <-time.After(time.Second):
		t.Error("no heartbeat within 1 s (heartbeat 200 ms)")
	}
	// Past the server's read and write timeouts, the stream goes on.
	time.Sleep(1500 * time.Millisecond)
	a.pub.Publish(context.Background(), []live.Event{position("T11985LA", 6.51)})
	for {
		m := sa.next(t, time.Second)
		if m.name == "position" && m.data["lat"] == 6.51 {
			break
		}
	}
	// Bad names and no key.
	problem(t, a.get(t, "/api/v1/stream/trucks?numbers=T00000XX", a.viewer), 400, "numbers")
	problem(t, a.get(t, "/api/v1/stream/trucks?numbers=T11985LA", ""), 401, "")
	problem(t, a.get(t, "/api/v1/stream/trucks?truck=T11985LA", a.viewer), 400, "truck")
}

// A trip stream gets its trip's events and its truck's positions, not
// other trips' events.
func TestStreamTrip(t *testing.T) {
	f := newFx(t)
	trip := ok(t, f.do(t, "POST", "/api/v1/trips", f.disp, map[string]any{"truck": "T11985LA", "pickup": "ESSLIBRA",
		"delivery": "Dangote Ibese", "scheduled_departure": "2026-12-05T06:00"}), 201)
	id := trip["trip_id"].(string)
	s := f.stream(t, "/api/v1/stream/trips/"+strings.ReplaceAll(id, "/", "%2F"), f.viewer)
	if m := s.next(t, time.Second); m.name != "snapshot" || m.data["trip_id"] != id {
		t.Fatalf("snapshot %v", m)
	}
	f.pub.Publish(context.Background(), []live.Event{
		{Type: live.TypeTrip, Truck: "T11985LA", Trip: "someone-else", Kind: "departed", At: time.Now()},
		{Type: live.TypeTrip, Truck: "T11985LA", Trip: id, Kind: "at_pickup", Place: "ESSLIBRA", At: time.Now()},
		position("T11985LA", 6.47),
	})
	if m := s.next(t, time.Second); m.name != "trip" || m.data["trip"] != id || m.data["kind"] != "at_pickup" {
		t.Fatalf("trip event %v", m)
	}
	if m := s.next(t, time.Second); m.name != "position" {
		t.Fatalf("position %v", m)
	}
	problem(t, f.get(t, "/api/v1/stream/trips/nope", f.viewer), 404, "")
}

// The WebSocket aliases carry the same events.
func TestWebSocket(t *testing.T) {
	f := newFx(t)
	url := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws/trucks/t-11985-la/location"
	if _, res, err := websocket.DefaultDialer.Dial(url, nil); err == nil || res.StatusCode != 401 {
		t.Fatalf("no key: %v", err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + f.viewer}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pinged := make(chan struct{}, 1)
	conn.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return conn.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	})
	read := func() map[string]any {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := read(); m["event"] != "snapshot" || m["data"].(map[string]any)["truck"] != "T11985LA" {
		t.Fatalf("first message %v", m)
	}
	f.pub.Publish(context.Background(), []live.Event{position("T11985LA", 6.5)})
	if m := read(); m["event"] != "position" || m["data"].(map[string]any)["lat"] != 6.5 {
		t.Fatalf("position message %v", m)
	}
	go func() { _ = conn.SetReadDeadline(time.Now().Add(2 * time.Second)); _, _, _ = conn.ReadMessage() }()
	select {
	case <-pinged:
	case <-time.After(2 * time.Second):
		t.Error("no ping within 2 s (heartbeat 200 ms)")
	}
}

// A client that stops reading is dropped once its queue is full: the
// server's memory does not grow with what it would have been sent, and
// the other clients keep getting everything.
func TestSlowClientDropped(t *testing.T) {
	f := newFx(t)
	// A raw client with a small receive buffer that never reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/stream/trucks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", f.viewer)
	fast := f.stream(t, "/api/v1/stream/trucks?numbers=T11985LA", f.viewer)
	fast.next(t, time.Second) // snapshot
	deadline := time.Now().Add(2 * time.Second)
	for {
		if n, _, _ := f.hub.Stats(); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow client did not subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	// 40 MB of positions: far more than the socket buffers and the queue.
	pad := strings.Repeat("x", 1000)
	received := 0
	for i := range 200 {
		evs := make([]live.Event, 200)
		for j := range evs {
			evs[j] = position("T11985LA", 6.5)
			evs[j].CorrelationID = pad
		}
		f.hub.Deliver(evs)
		// The fast client keeps up.
		for range 200 {
			if m := fast.next(t, 2*time.Second); m.name != "position" {
				t.Fatalf("batch %d: %v", i, m)
			}
			received++
		}
	}
	subs, _, dropped := f.hub.Stats()
	if dropped != 1 || subs != 1 {
		t.Errorf("subscribers %d, dropped %d: want the slow one dropped", subs, dropped)
	}
	if grew := int64(heap()) - int64(before); grew > 8<<20 {
		t.Errorf("heap grew %d MB while a client stalled", grew>>20)
	}
	if received != 40000 {
		t.Errorf("the fast client got %d of 40000", received)
	}
}
