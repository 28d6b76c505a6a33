package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchtower-fleet/watchtower/tools"
)

// Query is the body of POST /api/v1/ai/query.
type Query struct {
	// Question is what to ask, in plain words.
	Question string `json:"question" jsonschema:"description=What to ask in plain words; at most 2000 characters."`
	// Thread continues an earlier conversation of the same key.
	Thread *string `json:"thread,omitempty" jsonschema:"description=A name of your choosing (letters and digits and - and _) to continue an earlier question's conversation; leave out for a new one."`
}

var threadRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// maxQuestion is the longest question taken.
const maxQuestion = 2000

// readQuery reads and checks a query body: JSON, capped, known fields only.
func readQuery(r *http.Request) (Query, *Problem) {
	var q Query
	body, p := readJSON(r)
	if p != nil {
		return q, p
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return q, badParam(r, strings.Trim(name, `"`), "no such field; the body takes question and thread")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return q, badParam(r, te.Field, "must be a string")
		}
		return q, newProblem(r, http.StatusBadRequest, "invalid-body", "the body must be a JSON object with a question")
	}
	if dec.More() {
		return q, newProblem(r, http.StatusBadRequest, "invalid-body", "the body must be one JSON object")
	}
	q.Question = strings.TrimSpace(q.Question)
	switch {
	case q.Question == "":
		return q, badParam(r, "question", "is required")
	case utf8.RuneCountInString(q.Question) > maxQuestion || !utf8.ValidString(q.Question):
		return q, badParam(r, "question", fmt.Sprintf("must be UTF-8 text of at most %d characters", maxQuestion))
	case q.Thread != nil && !threadRE.MatchString(*q.Thread):
		return q, badParam(r, "thread", "must be 1-64 letters, digits, - or _")
	}
	return q, nil
}

// pendingEvent is a write the question proposed: nothing is done until a
// key allowed to confirms it at ConfirmURL.
type pendingEvent struct {
	ActionID   string    `json:"action_id"`
	Tool       string    `json:"tool"`
	Summary    string    `json:"summary"`
	ExpiresAt  time.Time `json:"expires_at"`
	ConfirmURL string    `json:"confirm_url"`
	CancelURL  string    `json:"cancel_url"`
}

// answerEvent ends a query's stream.
type answerEvent struct {
	Text   string       `json:"text"`
	Failed bool         `json:"failed"`
	Views  []tools.View `json:"views,omitempty"`
	Steps  int          `json:"steps"`
}

// aiQuery answers a question through the tool loop as server-sent events:
// "tool" as each tool runs, "text" as the answer streams, "pending" for
// each write proposed, and "answer" last.
func (a *API) aiQuery(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Assistant == nil {
		writeProblem(w, newProblem(r, http.StatusServiceUnavailable, "unavailable", "the assistant is off on this server"))
		return
	}
	q, p := readQuery(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	c := callerOf(r)
	thread := "api:" + c.Name + ":" + tools.NewCorrelationID()
	if q.Thread != nil {
		thread = "api:" + c.Name + ":" + *q.Thread
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	failed := false
	write := func(name string, v any) {
		if failed {
			return
		}
		b, _ := json.Marshal(v)
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil || rc.Flush() != nil {
			failed = true
		}
	}
	reply := a.cfg.Assistant.Ask(r.Context(), tools.Request{Caller: c, Thread: thread, Text: q.Question,
		Progress: func(p tools.Progress) {
			switch p.Kind {
			case tools.ProgressTool:
				write("tool", map[string]string{"tool": p.Tool})
			case tools.ProgressText:
				write("text", map[string]string{"text": p.Text})
			}
		}})
	for _, p := range reply.Pending {
		id := url.PathEscape(p.ID)
		write("pending", pendingEvent{ActionID: p.ID, Tool: p.Tool, Summary: p.Summary, ExpiresAt: p.ExpiresAt.UTC(),
			ConfirmURL: "/api/v1/actions/" + id + "/confirm", CancelURL: "/api/v1/actions/" + id + "/cancel"})
	}
	write("answer", answerEvent{Text: reply.Text, Failed: reply.Failed, Views: reply.Views, Steps: reply.Steps})
}

func (a *API) confirm(w http.ResponseWriter, r *http.Request) {
	a.decide(w, r, a.reg.Confirm)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) {
	a.decide(w, r, a.reg.Dismiss)
}

// decide confirms or cancels a pending action as the key.
func (a *API) decide(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, c tools.Caller, id string) tools.Outcome) {
	if p := onlyParams(r); p != nil {
		writeProblem(w, p)
		return
	}
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "act_") || len(id) > 64 {
		writeProblem(w, badParam(r, "id", "is not a pending action's id"))
		return
	}
	out := do(r.Context(), callerOf(r), id)
	if out.Err != nil {
		writeProblem(w, toolProblem(r, out.Err, out.Message(), nil))
		return
	}
	writeJSON(w, http.StatusOK, out.Result.Data)
}
