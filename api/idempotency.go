package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writes take an Idempotency-Key header: a retry with the same key and
// body, from any replica, within a day, gets the first answer again
// (Idempotent-Replayed: true) instead of writing twice; the same key with
// another body is refused, and one still running answers 409.

// idemTTL is how long an answer is kept for retries.
const idemTTL = 24 * time.Hour

// idemRunning is how long a write may hold its key before a retry may run
// it again (a replica that died mid-write).
const idemRunning = time.Minute

// maxIdemKey is the longest Idempotency-Key taken.
const maxIdemKey = 128

type idemRecord struct {
	Body    string `json:"body"` // sha256 of the request body and path
	Done    bool   `json:"done"`
	Status  int    `json:"status,omitempty"`
	Answer  []byte `json:"answer,omitempty"`
	Locator string `json:"location,omitempty"`
}

// idempotent answers a write: it runs write once per (API key,
// Idempotency-Key) and replays that answer to a retry; without the header
// it just runs write.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, raw []byte, write func() (int, []byte, string)) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || a.cfg.Redis == nil {
		status, body, loc := write()
		a.answer(w, status, body, loc)
		return
	}
	if len(key) > maxIdemKey {
		writeProblem(w, badParam(r, "Idempotency-Key", "is longer than 128 characters"))
		return
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\x00"), raw...))
	rec := idemRecord{Body: hex.EncodeToString(sum[:])}
	rkey := a.cfg.Prefix + "idem:" + callerOf(r).Name + ":" + key
	ctx := r.Context()
	first, _ := json.Marshal(rec)
	claimed, err := a.cfg.Redis.SetNX(ctx, rkey, first, idemRunning).Result()
	if err != nil {
		a.logger.WarnContext(ctx, "idempotency unavailable; writing without it", "err", err)
		status, body, loc := write()
		a.answer(w, status, body, loc)
		return
	}
	if !claimed {
		var prev idemRecord
		b, err := a.cfg.Redis.Get(ctx, rkey).Bytes()
		if errors.Is(err, redis.Nil) { // expired meanwhile: retry the claim once
			a.idempotent(w, r, raw, write)
			return
		}
		if err == nil {
			err = json.Unmarshal(b, &prev)
		}
		switch {
		case err != nil:
			writeProblem(w, newProblem(r, http.StatusServiceUnavailable, "unavailable", "the Idempotency-Key cannot be checked right now; retry"))
		case prev.Body != rec.Body:
			writeProblem(w, newProblem(r, http.StatusUnprocessableEntity, "refused", "this Idempotency-Key was used with another request; use a new key"))
		case !prev.Done:
			writeProblem(w, newProblem(r, http.StatusConflict, "conflict", "a request with this Idempotency-Key is still running; retry shortly"))
		default:
			w.Header().Set("Idempotent-Replayed", "true")
			a.answer(w, prev.Status, prev.Answer, prev.Locator)
		}
		return
	}
	status, body, loc := write()
	if status >= 500 {
		// Not kept: a retry may succeed.
		a.cfg.Redis.Del(context.WithoutCancel(ctx), rkey)
	} else {
		rec.Done, rec.Status, rec.Answer, rec.Locator = true, status, body, loc
		done, _ := json.Marshal(rec)
		if err := a.cfg.Redis.Set(context.WithoutCancel(ctx), rkey, done, idemTTL).Err(); err != nil {
			a.logger.WarnContext(ctx, "idempotent answer not kept", "err", err)
		}
	}
	a.answer(w, status, body, loc)
}

// answer writes a JSON or problem body already encoded.
func (a *API) answer(w http.ResponseWriter, status int, body []byte, location string) {
	if location != "" {
		w.Header().Set("Location", location)
	}
	ct := "application/json"
	if status >= 400 {
		ct = "application/problem+json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
