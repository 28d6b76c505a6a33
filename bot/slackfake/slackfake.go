// Package slackfake is a fake Slack for tests: Socket Mode over a real
// websocket (hello, events_api, slash_commands, interactive, disconnect and
// pings, in Slack's envelope JSON) and a recorder of the Web API methods and
// response_url posts the bot makes. It answers slack-go's client the way
// Slack does, so the bot under test runs unchanged against it.
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Identities the fake's workspace has.
const (
	TeamID    = "T0FLEET01"
	AppID     = "A0WATCH01"
	BotUserID = "U0WATCHBOT"
	BotID     = "B0WATCHBOT"
	AppToken  = "xapp-1-A0WATCH01-fake"
	BotToken  = "xoxb-fake-bot-token"
)

// Call is one Web API call or response_url post the bot made.
type Call struct {
	Method string // chat.postMessage, …, or "response_url"
	// Params are the form values, or a JSON body's top-level fields as
	// JSON text (strings unquoted).
	Params url.Values
	Body   []byte
	At     time.Time
	// TS is the message timestamp the fake gave a posted message.
	TS string
}

// Blocks returns the call's blocks as JSON ("" when none).
func (c Call) Blocks() string { return c.Params.Get("blocks") }

// Ack is an envelope's acknowledgement.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage
	At         time.Time
	// After is how long after the envelope was sent the ack came.
	After time.Duration
}

// Server is the fake.
type Server struct {
	t   testing.TB
	srv *httptest.Server
	// URL is the Web API base, ending in "/api/" (SLACK_API_URL).
	URL string

	mu       sync.Mutex
	cond     *sync.Cond
	calls    []Call
	acks     map[string]Ack
	sent     map[string]time.Time
	conns    map[int]*wsConn
	connects int
	messages map[string]json.RawMessage // channel|ts → the message as Slack stores it
	// responseChannel is the channel of each response_url's command.
	responseChannel map[string]string
	ts              int64

	refuse     atomic.Bool
	failMethod sync.Map // method → error code
	// PingEvery is how often the socket pings (5 s; slack-go gives up
	// after 30 s without one).
	PingEvery time.Duration
}

type wsConn struct {
	ws *websocket.Conn
	mu sync.Mutex
	id int
}

func (c *wsConn) write(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// NewServer starts the fake; it stops with the test.
func NewServer(t testing.TB) *Server {
	s := &Server{t: t, acks: map[string]Ack{}, sent: map[string]time.Time{}, conns: map[int]*wsConn{},
		messages: map[string]json.RawMessage{}, responseChannel: map[string]string{}, ts: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).Unix() * 1e6, PingEvery: 5 * time.Second}
	s.cond = sync.NewCond(&s.mu)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/link", s.socket)
	mux.HandleFunc("/response/", s.response)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/api/"
	t.Cleanup(s.Close)
	return s
}

// Close drops every socket and stops the server.
func (s *Server) Close() {
	s.DropAll()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// ResponseURL is a response_url the fake records posts to.
func (s *Server) ResponseURL(id string) string { return s.srv.URL + "/response/" + id }

// Refuse makes apps.connections.open fail (as when Slack is unreachable),
// so the bot cannot reconnect until it is allowed again.
func (s *Server) Refuse(on bool) { s.refuse.Store(on) }

// FailMethod makes a Web API method answer ok:false with code ("" stops).
func (s *Server) FailMethod(method, code string) {
	if code == "" {
		s.failMethod.Delete(method)
		return
	}
	s.failMethod.Store(method, code)
}

func (s *Server) nextTS() string {
	s.ts += 100
	return fmt.Sprintf("%d.%06d", s.ts/1e6, s.ts%1e6)
}

// api answers the Web API the way Slack does: always 200 with "ok".
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(r.Body)
	params := url.Values{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" && len(strings.TrimSpace(string(body))) > 0 {
		if err := jsonParams(body, params); err != nil {
			reply(w, map[string]any{"ok": false, "error": "invalid_json"})
			return
		}
	} else {
		params, _ = url.ParseQuery(string(body))
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = params.Get("token")
	}
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	if token != want {
		reply(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if code, ok := s.failMethod.Load(method); ok {
		s.record(Call{Method: method, Params: params, Body: body, At: time.Now()})
		reply(w, map[string]any{"ok": false, "error": code})
		return
	}
	switch method {
	case "apps.connections.open":
		if s.refuse.Load() {
			reply(w, map[string]any{"ok": false, "error": "internal_error"})
			return
		}
		reply(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link"})
	case "auth.test":
		reply(w, map[string]any{"ok": true, "url": "https://fleet.slack.com/", "team": "Fleet", "user": "watchtower",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID})
	case "chat.postMessage", "chat.startStream":
		s.mu.Lock()
		ts := s.nextTS()
		msg := s.store(params, ts)
		s.mu.Unlock()
		s.record(Call{Method: method, Params: params, Body: body, At: time.Now(), TS: ts})
		reply(w, map[string]any{"ok": true, "channel": params.Get("channel"), "ts": ts, "message": msg})
	case "chat.update", "chat.appendStream", "chat.stopStream":
		ts := params.Get("ts")
		s.mu.Lock()
		_, ok := s.messages[params.Get("channel")+"|"+ts]
		var msg json.RawMessage
		if ok && method == "chat.update" {
			msg = s.store(params, ts)
		}
		s.mu.Unlock()
		s.record(Call{Method: method, Params: params, Body: body, At: time.Now(), TS: ts})
		if !ok {
			reply(w, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		reply(w, map[string]any{"ok": true, "channel": params.Get("channel"), "ts": ts, "text": params.Get("text"), "message": msg})
	case "chat.postEphemeral":
		s.mu.Lock()
		ts := s.nextTS()
		s.mu.Unlock()
		s.record(Call{Method: method, Params: params, Body: body, At: time.Now(), TS: ts})
		reply(w, map[string]any{"ok": true, "message_ts": ts})
	case "assistant.threads.setStatus", "assistant.threads.setSuggestedPrompts", "assistant.threads.setTitle":
		s.record(Call{Method: method, Params: params, Body: body, At: time.Now()})
		reply(w, map[string]any{"ok": true})
	default:
		reply(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// store keeps a posted message as Slack would return it in an interaction
// payload: Slack gives every block without a block_id one of its own.
// Callers hold s.mu.
func (s *Server) store(params url.Values, ts string) json.RawMessage {
	var blocks []map[string]any
	if b := params.Get("blocks"); b != "" {
		_ = json.Unmarshal([]byte(b), &blocks)
	}
	for i, b := range blocks {
		if id, _ := b["block_id"].(string); id == "" {
			b["block_id"] = fmt.Sprintf("blk%s%d", strings.ReplaceAll(ts, ".", ""), i)
		}
	}
	msg, _ := json.Marshal(map[string]any{"type": "message", "user": BotUserID, "bot_id": BotID, "ts": ts,
		"text": params.Get("text"), "thread_ts": params.Get("thread_ts"), "blocks": blocks})
	s.messages[params.Get("channel")+"|"+ts] = msg
	return msg
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	params := url.Values{"response_url": {strings.TrimPrefix(r.URL.Path, "/response/")}}
	if err := jsonParams(body, params); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	// An in_channel answer becomes a message in the command's channel, as
	// in Slack; an ephemeral one is seen by the person alone.
	s.mu.Lock()
	channel := s.responseChannel[params.Get("response_url")]
	ts := ""
	if channel != "" && params.Get("response_type") == "in_channel" {
		ts = s.nextTS()
		params.Set("channel", channel)
		s.store(params, ts)
	}
	s.mu.Unlock()
	s.record(Call{Method: "response_url", Params: params, Body: body, At: time.Now(), TS: ts})
	reply(w, map[string]any{"ok": true})
}

// jsonParams adds a JSON object's top-level fields to params: strings as
// they are, anything else as its JSON text.
func jsonParams(body []byte, params url.Values) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	for k, v := range m {
		var str string
		if json.Unmarshal(v, &str) == nil {
			params.Set(k, str)
		} else {
			params.Set(k, string(v))
		}
	}
	return nil
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.cond.Broadcast()
	s.mu.Unlock()
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket is the Socket Mode websocket: hello, then envelopes as the test
// sends them, pings, and the acks the bot writes back.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.connects++
	c := &wsConn{ws: ws, id: s.connects}
	s.conns[c.id] = c
	s.cond.Broadcast()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c.id)
		s.cond.Broadcast()
		s.mu.Unlock()
		ws.Close()
	}()
	_ = c.write(map[string]any{"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": AppID}})
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(s.PingEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.mu.Lock()
				err := ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				c.mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var a struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &a) != nil || a.EnvelopeID == "" {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		if _, dup := s.acks[a.EnvelopeID]; !dup {
			s.acks[a.EnvelopeID] = Ack{EnvelopeID: a.EnvelopeID, Payload: a.Payload, At: now, After: now.Sub(s.sent[a.EnvelopeID])}
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// WaitConnected waits until n sockets have been opened in all, and one is
// open now.
func (s *Server) WaitConnected(n int, timeout time.Duration) bool {
	return s.waitFor(timeout, func() bool { return s.connects >= n && len(s.conns) > 0 })
}

// Connects is how many sockets the bot has opened.
func (s *Server) Connects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

// waitFor waits, holding s.mu while cond is checked.
func (s *Server) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		s.cond.Wait()
	}
	return true
}

var envelopeSeq atomic.Int64

// Send writes an envelope on an open socket and returns its envelope id.
// retry is its retry_attempt (Slack's redelivery counter).
func (s *Server) Send(typ string, payload any, retry int) string {
	s.t.Helper()
	id := fmt.Sprintf("env-%d-%d", time.Now().UnixNano()%1e6, envelopeSeq.Add(1))
	raw, err := json.Marshal(payload)
	if err != nil {
		s.t.Fatalf("slackfake: payload: %v", err)
	}
	env := map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(raw),
		"accepts_response_payload": typ != "events_api"}
	if typ == "events_api" {
		env["retry_attempt"] = retry
		if retry > 0 {
			env["retry_reason"] = "timeout"
		}
	}
	if !s.WaitConnected(1, 10*time.Second) {
		s.t.Fatalf("slackfake: no socket to send %s on", typ)
	}
	s.mu.Lock()
	var c *wsConn
	for _, cc := range s.conns {
		if c == nil || cc.id > c.id {
			c = cc
		}
	}
	s.sent[id] = time.Now()
	s.mu.Unlock()
	if err := c.write(env); err != nil {
		s.t.Fatalf("slackfake: send: %v", err)
	}
	return id
}

// Event sends an Events API callback around inner, with event_id.
func (s *Server) Event(eventID string, inner map[string]any, retry int) string {
	return s.Send("events_api", map[string]any{"token": "verification-token", "team_id": TeamID, "api_app_id": AppID,
		"event": inner, "type": "event_callback", "event_id": eventID, "event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{"team_id": TeamID, "user_id": BotUserID, "is_bot": true}},
		"event_context":  "4-fake"}, retry)
}

// Mention sends an app_mention in channel (threadTS "" for a new thread).
func (s *Server) Mention(eventID, channel, user, text, ts, threadTS string) string {
	ev := map[string]any{"type": "app_mention", "user": user, "text": "<@" + BotUserID + "> " + text, "ts": ts,
		"channel": channel, "event_ts": ts}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	return s.Event(eventID, ev, 0)
}

// DM sends a message.im from user.
func (s *Server) DM(eventID, channel, user, text, ts, threadTS string) string {
	ev := map[string]any{"type": "message", "channel_type": "im", "user": user, "text": text, "ts": ts,
		"channel": channel, "event_ts": ts, "client_msg_id": "cm-" + ts}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	return s.Event(eventID, ev, 0)
}

// AssistantThreadStarted sends assistant_thread_started for user in a DM.
func (s *Server) AssistantThreadStarted(eventID, channel, user, threadTS string) string {
	return s.Event(eventID, map[string]any{"type": "assistant_thread_started", "event_ts": threadTS,
		"assistant_thread": map[string]any{"user_id": user, "channel_id": channel, "thread_ts": threadTS,
			"context": map[string]any{}}}, 0)
}

// Slash sends /fleet text from user in channel, with a response_url of
// the fake's named responseID.
func (s *Server) Slash(channel, user, text, responseID string) string {
	s.mu.Lock()
	s.responseChannel[responseID] = channel
	s.mu.Unlock()
	return s.Send("slash_commands", map[string]any{"token": "verification-token", "team_id": TeamID,
		"team_domain": "fleet", "channel_id": channel, "channel_name": "ops", "user_id": user, "user_name": strings.ToLower(user),
		"command": "/fleet", "text": text, "api_app_id": AppID, "is_enterprise_install": "false",
		"response_url": s.ResponseURL(responseID), "trigger_id": "trig-" + responseID}, 0)
}

// Press presses the button with actionID (and value, if not "") on the
// message at channel|ts as user, the way Slack sends block_actions: with
// the message as stored, the block_id and a response_url. It returns the
// envelope id, or "" when the message has no such button.
func (s *Server) Press(channel, ts, user, actionID, value, responseID string) string {
	raw := s.Message(channel, ts)
	if raw == nil {
		s.t.Fatalf("slackfake: no message %s|%s", channel, ts)
	}
	return s.PressOn(channel, ts, raw, user, actionID, value, responseID)
}

// PressOn presses a button on the message as it was (raw, from Message):
// what a phone that has not caught up with an update sends.
func (s *Server) PressOn(channel, ts string, raw json.RawMessage, user, actionID, value, responseID string) string {
	var msg struct {
		ThreadTS string           `json:"thread_ts"`
		Blocks   []map[string]any `json:"blocks"`
	}
	_ = json.Unmarshal(raw, &msg)
	for _, b := range msg.Blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			if el["action_id"] != actionID || (value != "" && el["value"] != value) {
				continue
			}
			action := map[string]any{"type": "button", "action_id": actionID, "block_id": b["block_id"],
				"text": el["text"], "value": el["value"], "action_ts": strconv.FormatInt(time.Now().UnixMicro(), 10)}
			if st, ok := el["style"]; ok {
				action["style"] = st
			}
			return s.Send("interactive", map[string]any{"type": "block_actions",
				"user":       map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": TeamID},
				"api_app_id": AppID, "token": "verification-token", "trigger_id": "trig-" + responseID,
				"team":      map[string]any{"id": TeamID, "domain": "fleet"},
				"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false, "thread_ts": msg.ThreadTS},
				"channel":   map[string]any{"id": channel, "name": "ops"},
				"message":   json.RawMessage(raw), "response_url": s.ResponseURL(responseID),
				"actions": []any{action}}, 0)
		}
	}
	return ""
}

// Disconnect sends Slack's disconnect request on every open socket, as
// Slack does before it moves a connection.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.write(map[string]any{"type": "disconnect", "reason": reason,
			"debug_info": map[string]any{"host": "applink-fake"}})
	}
}

// DropAll closes every socket without a word, as a network failure does.
func (s *Server) DropAll() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.ws.NetConn().Close()
	}
	s.mu.Unlock()
}

// Open is how many sockets are open now.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitAck waits for an envelope's ack.
func (s *Server) WaitAck(id string, timeout time.Duration) (Ack, bool) {
	var a Ack
	ok := s.waitFor(timeout, func() bool { var ok bool; a, ok = s.acks[id]; return ok })
	return a, ok
}

// Calls returns the calls of a method so far ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCall waits for the nth (from 1) call that matches: a method ("" for
// any) and, if pred is set, pred.
func (s *Server) WaitCall(timeout time.Duration, n int, match func(Call) bool) (Call, bool) {
	var found Call
	ok := s.waitFor(timeout, func() bool {
		k := 0
		for _, c := range s.calls {
			if match(c) {
				if k++; k == n {
					found = c
					return true
				}
			}
		}
		return false
	})
	return found, ok
}

// Method matches calls of one method.
func Method(m string) func(Call) bool { return func(c Call) bool { return c.Method == m } }

// Message returns the stored message at channel|ts, as JSON.
func (s *Server) Message(channel, ts string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages[channel+"|"+ts]
}

// Reset forgets the recorded calls (not the messages).
func (s *Server) Reset() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}
