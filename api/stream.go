package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/watchtower-fleet/watchtower/live"
	"github.com/watchtower-fleet/watchtower/tools"
)

// Streams: server-sent events on /api/v1/stream/…, WebSocket on /ws/….
// Both start with a snapshot (each truck's last position, or the trip as
// it stands), then send events as the fold stores them, and a heartbeat
// when idle so that proxies keep the connection. A client that cannot keep
// up is told so and disconnected: the server never queues more than the
// hub's buffer for it.

// writeWait bounds one write to a stream client; a client that does not
// read for this long is gone.
const writeWait = 10 * time.Second

// maxStreamTrucks is how many trucks one stream may name.
const maxStreamTrucks = 100

// snapshot is what a stream starts with, and the filter of what follows.
type snapshot struct {
	events []sseEvent
	filter live.Filter
}

type sseEvent struct {
	name string
	data any
}

// trucksSnapshot resolves the numbers a client asked for (forgiving, as
// every endpoint is) and gives each one's record and last position.
func (a *API) trucksSnapshot(ctx context.Context, r *http.Request, c tools.Caller, numbers []string) (snapshot, *Problem) {
	var s snapshot
	if len(numbers) == 0 {
		return s, nil // every truck, no snapshot
	}
	if len(numbers) > maxStreamTrucks {
		return s, badParam(r, "numbers", fmt.Sprintf("name at most %d trucks", maxStreamTrucks))
	}
	s.filter.Trucks = []string{}
	seen := map[string]bool{}
	for _, n := range numbers {
		raw, _ := json.Marshal(map[string]string{"truck": n})
		out := a.reg.Invoke(ctx, c, "truck_details", raw)
		if out.Err != nil {
			p := toolProblem(r, out.Err, out.Message(), map[string]string{"truck": "numbers"})
			if p.Status == http.StatusNotFound || p.Status == http.StatusBadRequest || p.Status == http.StatusUnprocessableEntity {
				p.Status, p.Type, p.Title = http.StatusBadRequest, problemType("invalid-parameter"), problemTitles["invalid-parameter"]
				p.InvalidParams = []InvalidParam{{Name: "numbers", Reason: out.Message()}}
				p.Detail = fmt.Sprintf("invalid parameter %q: %s", "numbers", out.Message())
			}
			return s, p
		}
		m, _ := out.Result.Data.(map[string]any)
		number, _ := m["truck"].(string)
		if seen[number] {
			continue
		}
		seen[number] = true
		s.filter.Trucks = append(s.filter.Trucks, number)
		s.events = append(s.events, sseEvent{"snapshot", m})
	}
	return s, nil
}

// tripSnapshot resolves a trip and gives it as it stands.
func (a *API) tripSnapshot(ctx context.Context, r *http.Request, c tools.Caller, id string) (snapshot, *Problem) {
	raw, _ := json.Marshal(map[string]string{"trip": id})
	out := a.reg.Invoke(ctx, c, "trip_tracking", raw)
	if out.Err != nil {
		return snapshot{}, toolProblem(r, out.Err, out.Message(), map[string]string{"trip": "id"})
	}
	m, _ := out.Result.Data.(map[string]any)
	truck, _ := m["truck"].(string)
	tripID, _ := m["trip_id"].(string)
	return snapshot{events: []sseEvent{{"snapshot", m}}, filter: live.Filter{Trucks: []string{truck}, Trip: tripID}}, nil
}

func splitNumbers(v string) []string {
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// onlyParams checks a query that is not a tool's (streams, actions): only
// the parameters it takes (and a stream's access_token), once each.
func onlyParams(r *http.Request, allowed ...string) *Problem {
	q := r.URL.Query()
	for _, k := range sortedKeys(q) {
		if k == "access_token" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			reason := "no such parameter"
			if len(allowed) > 0 {
				reason += "; this endpoint takes " + strings.Join(allowed, ", ")
			}
			return badParam(r, k, reason)
		}
		if len(q[k]) > 1 {
			return badParam(r, k, "give it once")
		}
	}
	return nil
}

// stream serves a live stream: its query checked, then its snapshot
// resolved, then served (server-sent events or a WebSocket).
func (a *API) stream(resolve func(*http.Request) (snapshot, *Problem), serve func(http.ResponseWriter, *http.Request, snapshot), params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := onlyParams(r, params...); p != nil {
			writeProblem(w, p)
			return
		}
		s, p := resolve(r)
		if p != nil {
			writeProblem(w, p)
			return
		}
		serve(w, r, s)
	}
}

// trucksNamed is the trucks of ?numbers=, or every truck.
func (a *API) trucksNamed(r *http.Request) (snapshot, *Problem) {
	return a.trucksSnapshot(r.Context(), r, callerOf(r), splitNumbers(r.URL.Query().Get("numbers")))
}

// truckInPath is the truck the path names.
func (a *API) truckInPath(r *http.Request) (snapshot, *Problem) {
	s, p := a.trucksSnapshot(r.Context(), r, callerOf(r), []string{r.PathValue("id")})
	if p != nil && len(p.InvalidParams) > 0 {
		p.InvalidParams[0].Name = "id"
		p.Detail = strings.Replace(p.Detail, `"numbers"`, `"id"`, 1)
	}
	return s, p
}

// tripInPath is the trip the path names.
func (a *API) tripInPath(r *http.Request) (snapshot, *Problem) {
	return a.tripSnapshot(r.Context(), r, callerOf(r), r.PathValue("id"))
}

// serveSSE streams server-sent events until the client leaves, falls
// behind, or the server stops.
func (a *API) serveSSE(w http.ResponseWriter, r *http.Request, s snapshot) {
	if a.cfg.Live == nil {
		writeProblem(w, newProblem(r, http.StatusServiceUnavailable, "unavailable", "live streams are off on this server"))
		return
	}
	sub := a.cfg.Live.Subscribe(s.filter)
	defer sub.Close()
	rc := http.NewResponseController(w)
	// The server's write timeout is for requests, not streams; each write
	// gets its own deadline instead.
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	writeRaw := func(name string, b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		return err
	}
	write := func(name string, data any) error {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		return writeRaw(name, b)
	}
	for _, e := range s.events {
		if write(e.name, e.data) != nil {
			return
		}
	}
	_, _ = fmt.Fprintf(w, "retry: 3000\n\n")
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(a.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.Gone():
			if sub.Dropped() {
				_ = write("error", map[string]string{"reason": "too slow: the stream fell behind and was closed; reconnect"})
				_ = rc.Flush()
			}
			return
		case <-beat.C:
			_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
			if _, err := fmt.Fprintf(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case m := <-sub.C:
			// Write what is queued, then flush once.
			if writeRaw(m.Event.Type, m.JSON()) != nil {
				return
			}
			for more := true; more; {
				select {
				case m := <-sub.C:
					if writeRaw(m.Event.Type, m.JSON()) != nil {
						return
					}
				default:
					more = false
				}
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	// Keys, not cookies, authorise a stream: any origin may connect with
	// one.
	CheckOrigin: func(*http.Request) bool { return true },
}

// wsMessage is one WebSocket text message: the event's name and data, as
// the server-sent events have them.
type wsMessage struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
}

// serveWS streams over a WebSocket: the same events as text messages,
// pings as heartbeats, and a close frame when the client falls behind.
func (a *API) serveWS(w http.ResponseWriter, r *http.Request, s snapshot) {
	if a.cfg.Live == nil {
		writeProblem(w, newProblem(r, http.StatusServiceUnavailable, "unavailable", "live streams are off on this server"))
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	sub := a.cfg.Live.Subscribe(s.filter)
	defer sub.Close()
	// The reader sees pongs and the client's close; clients send nothing
	// else that matters.
	conn.SetReadLimit(4096)
	_ = conn.SetReadDeadline(time.Now().Add(a.cfg.Heartbeat*2 + writeWait))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(a.cfg.Heartbeat*2 + writeWait))
	})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	send := func(name string, data any) error {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteJSON(wsMessage{Event: name, Data: data})
	}
	for _, e := range s.events {
		if send(e.name, e.data) != nil {
			return
		}
	}
	beat := time.NewTicker(a.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server stopping"), time.Now().Add(time.Second))
			return
		case <-closed:
			return
		case <-sub.Gone():
			msg := "server stopping"
			code := websocket.CloseGoingAway
			if sub.Dropped() {
				msg, code = "too slow: the stream fell behind; reconnect", websocket.ClosePolicyViolation
			}
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg), time.Now().Add(time.Second))
			return
		case <-beat.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
				return
			}
		case m := <-sub.C:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			msg := append(append(append([]byte(`{"event":"`), m.Event.Type...), `","data":`...), m.JSON()...)
			if conn.WriteMessage(websocket.TextMessage, append(msg, '}')) != nil {
				return
			}
		}
	}
}
