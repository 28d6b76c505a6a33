package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchtower-fleet/watchtower/fault"
)

// ActionTTL is how long a pending action may be confirmed.
const ActionTTL = 15 * time.Minute

// actionKeep is how long a decided or expired action is remembered, so that
// a late second press is told what happened rather than "unknown".
const actionKeep = 24 * time.Hour

// Action states.
const (
	ActionPending   = "pending"
	ActionConfirmed = "confirmed"
	ActionCancelled = "cancelled"
	ActionExpired   = "expired"
)

// Pending is a write action that waits for a person. It lives in Redis, so
// any replica can confirm it.
type Pending struct {
	ID            string          `json:"id"`
	Tool          string          `json:"tool"`
	Args          json.RawMessage `json:"args"`
	Summary       string          `json:"summary"`
	RequestedBy   Caller          `json:"requested_by"`
	CorrelationID string          `json:"correlation_id"`
	CreatedAt     time.Time       `json:"created_at"`
	ExpiresAt     time.Time       `json:"expires_at"`
	// NeedsRole is the role that may confirm it besides an admin.
	NeedsRole string `json:"needs_role"`
}

// Result is the pending action as a tool result: the model is told that
// nothing has happened yet, people see the summary and the buttons.
func (p *Pending) Result() Result {
	note := "Nothing has been done yet. A person must press Confirm on the card; tell the user to check it and confirm. You cannot confirm it yourself."
	who := "Confirm by " + p.RequestedBy.Name + " (if a " + p.NeedsRole + " or admin) or any admin"
	if !Allows(p.RequestedBy.Role, p.NeedsRole) {
		note = "Nothing has been done yet. The requester's role does not allow this; an admin must press Confirm."
		who = "Only an admin can confirm this: the requester is " + article(p.RequestedBy.Role)
	}
	return Result{
		Data: map[string]any{
			"status":     "awaiting_confirmation",
			"action_id":  p.ID,
			"summary":    p.Summary,
			"expires_at": p.ExpiresAt.UTC().Format(time.RFC3339),
			"note":       note,
		},
		View: View{
			Title:  "Waiting for Confirm",
			Text:   p.Summary,
			Footer: fmt.Sprintf("%s. Expires in %d minutes.", who, int(p.ExpiresAt.Sub(p.CreatedAt).Round(time.Minute).Minutes())),
			Buttons: []Button{
				{Label: "Confirm", Action: ActionConfirm, Value: p.ID, Style: "primary"},
				{Label: "Cancel", Action: ActionCancel, Value: p.ID, Style: "danger"},
			},
		},
	}
}

// Actions keeps pending actions in Redis: a hash per action (its immutable
// body, state, expiry, who decided and when) and a sorted set of the open
// ones by expiry, for the sweeper.
type Actions struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewActions keeps actions under keys starting with prefix
// ("watchtower:" in production; tests use their own).
func NewActions(rdb redis.UniversalClient, prefix string) *Actions {
	return &Actions{rdb: rdb, prefix: prefix}
}

func (a *Actions) key(id string) string { return a.prefix + "action:" + id }
func (a *Actions) openKey() string      { return a.prefix + "actions:open" }

// save stores a new pending action.
func (a *Actions) save(ctx context.Context, p *Pending) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	pipe := a.rdb.TxPipeline()
	pipe.HSet(ctx, a.key(p.ID), "body", body, "state", ActionPending, "expires", p.ExpiresAt.UnixMilli())
	// The TTL is measured on the action's own clock, never the machine's: a
	// registry on another clock (a test's, a skewed replica's) must not make
	// the key vanish at once.
	pipe.Expire(ctx, a.key(p.ID), p.ExpiresAt.Sub(p.CreatedAt)+actionKeep)
	pipe.ZAdd(ctx, a.openKey(), redis.Z{Score: float64(p.ExpiresAt.UnixMilli()), Member: p.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("tools: save action %s: %w", p.ID, err)
	}
	return nil
}

// actionRecord is an action with its current state.
type actionRecord struct {
	Pending
	State     string
	DecidedBy string
	DecidedAt time.Time
}

// Get returns an action and its state. An action never made, or forgotten
// a day after it ended, is ErrActionGone.
func (a *Actions) get(ctx context.Context, id string) (actionRecord, error) {
	m, err := a.rdb.HGetAll(ctx, a.key(id)).Result()
	if err != nil {
		return actionRecord{}, fmt.Errorf("tools: action %s: %w", id, err)
	}
	if len(m) == 0 {
		return actionRecord{}, &ActionGoneError{ID: id, State: "unknown"}
	}
	var rec actionRecord
	if err := json.Unmarshal([]byte(m["body"]), &rec.Pending); err != nil {
		return actionRecord{}, fmt.Errorf("tools: action %s: %w", id, err)
	}
	rec.State = m["state"]
	rec.DecidedBy = m["by"]
	if ms, err := strconv.ParseInt(m["at"], 10, 64); err == nil {
		rec.DecidedAt = time.UnixMilli(ms)
	}
	return rec, nil
}

// claimScript moves an action out of pending, once: it answers "ok" to the
// one caller that moved it, and to everyone else the state it found
// (an action past its expiry is moved to expired on the way).
var claimScript = redis.NewScript(`
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'unknown', '', ''} end
if state ~= 'pending' then
  return {state, redis.call('HGET', KEYS[1], 'by') or '', redis.call('HGET', KEYS[1], 'at') or ''}
end
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires'))
local now = tonumber(ARGV[1])
local to = ARGV[2]
if now >= expires then
  redis.call('HSET', KEYS[1], 'state', 'expired', 'at', tostring(expires))
  redis.call('ZREM', KEYS[2], ARGV[4])
  if to == 'expired' then return {'ok', '', ''} end
  return {'expired', '', tostring(expires)}
end
if to == 'expired' then return {'pending', '', ''} end
redis.call('HSET', KEYS[1], 'state', to, 'by', ARGV[3], 'at', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[4])
return {'ok', '', ''}
`)

// claim moves action id from pending to state "to" as who, at now. It
// returns nil for the one caller that did, or an *ActionGoneError saying
// what had happened instead.
func (a *Actions) claim(ctx context.Context, id, to, who string, now time.Time) error {
	res, err := claimScript.Run(ctx, a.rdb, []string{a.key(id), a.openKey()},
		now.UnixMilli(), to, who, id).StringSlice()
	if err != nil {
		return fmt.Errorf("tools: claim action %s: %w", id, err)
	}
	if res[0] == "ok" {
		return nil
	}
	gone := &ActionGoneError{ID: id, State: res[0], By: res[1]}
	if ms, err := strconv.ParseInt(res[2], 10, 64); err == nil {
		gone.At = time.UnixMilli(ms)
	}
	return gone
}

// due returns the ids of open actions whose expiry has passed.
func (a *Actions) due(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	return a.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: a.openKey(), Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10),
		ByScore: true, Count: limit}).Result()
}

// ErrActionGone is matched by every *ActionGoneError.
var ErrActionGone error = &goneSentinel{}

// goneSentinel is ErrActionGone's type, so that it too has a code.
type goneSentinel struct{}

func (*goneSentinel) Error() string        { return "action is no longer pending" }
func (*goneSentinel) ErrorCode() string    { return string(fault.Gone) }
func (*goneSentinel) ErrorMessage() string { return "This action is no longer pending" }

// ActionGoneError says why an action can no longer be confirmed.
type ActionGoneError struct {
	ID    string
	State string // confirmed, cancelled, expired or unknown
	By    string
	At    time.Time
}

func (e *ActionGoneError) Error() string {
	switch e.State {
	case ActionConfirmed:
		return fmt.Sprintf("this was already confirmed%s%s; nothing was done again", by(e.By), at(e.At))
	case ActionCancelled:
		return fmt.Sprintf("this was cancelled%s%s; nothing was done", by(e.By), at(e.At))
	case ActionExpired:
		return "this request expired (they last 15 minutes); nothing was done. Ask again to get a fresh one"
	}
	return "no such pending request (it may have expired more than a day ago); nothing was done"
}

// Is makes errors.Is(err, ErrActionGone) true.
func (e *ActionGoneError) Is(target error) bool { return target == ErrActionGone }

// ErrorCode is fault's gone.
func (e *ActionGoneError) ErrorCode() string { return string(fault.Gone) }

// ErrorMessage is the error itself.
func (e *ActionGoneError) ErrorMessage() string { return e.Error() }

func by(who string) string {
	if who == "" {
		return ""
	}
	return " by " + who
}

func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.Format("15:04 MST")
}

// propose checks a write tool's arguments against the world as it is and
// keeps it as a pending action. Nothing is written but the action itself
// and its audit line.
func (r *Registry) propose(ctx context.Context, c Caller, t *Tool, args any, raw []byte) (*Pending, error) {
	if r.actions == nil {
		return nil, userErrf("write actions are off here: there is no Redis to keep them for confirmation")
	}
	args, summary, err := t.preview(ctx, c, args)
	if err != nil {
		return nil, err
	}
	canonical, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("tools: %s: encode arguments: %w", t.Name, err)
	}
	now := r.deps.Now()
	p := &Pending{
		ID: "act_" + NewCorrelationID(), Tool: t.Name, Args: canonical, Summary: summary,
		RequestedBy: c, CorrelationID: c.CorrelationID, CreatedAt: now, ExpiresAt: now.Add(ActionTTL), NeedsRole: t.Role,
	}
	if err := r.actions.save(ctx, p); err != nil {
		return nil, err
	}
	r.audit(ctx, c, "action.proposed", t.Name, canonical, "pending "+p.ID+": "+summary)
	return p, nil
}

// mayConfirm says whether c may confirm (or cancel) p: the requester if
// their role allows the tool, an admin always.
func mayConfirm(c Caller, p *Pending) bool {
	if c.Role == RoleAdmin {
		return true
	}
	return c.ID != "" && c.ID == p.RequestedBy.ID && Allows(c.Role, p.NeedsRole)
}

// Confirm runs pending action id as c, exactly once. A second confirmation,
// one after expiry, or one by someone not allowed runs nothing and says why.
func (r *Registry) Confirm(ctx context.Context, c Caller, id string) Outcome {
	if r.actions == nil {
		return Outcome{Err: userErrf("write actions are off here")}
	}
	rec, err := r.actions.get(ctx, id)
	if err != nil {
		r.audit(ctx, c, "action.refused", "", []byte(strconv.Quote(id)), userMessage(err))
		return Outcome{Err: r.localGone(err)}
	}
	t, ok := r.byName[rec.Tool]
	if !ok {
		return Outcome{Tool: rec.Tool, Err: userErrf("this request is for a tool that no longer exists (%s); nothing was done", rec.Tool)}
	}
	if !mayConfirm(c, &rec.Pending) {
		var err error = &ForbiddenError{Msg: fmt.Sprintf("only an admin, or %s if their role allows it, can confirm this", rec.RequestedBy.Name)}
		if c.ID == rec.RequestedBy.ID {
			perm := &PermissionError{Tool: t.Name, Need: t.Role, Have: c.Role}
			err = &ForbiddenError{Msg: perm.Error() + "; an admin must confirm it"}
		}
		r.audit(ctx, c, "action.refused", t.Name, rec.Args, "not allowed to confirm "+id)
		return Outcome{Tool: t.Name, Err: err}
	}
	if err := r.actions.claim(ctx, id, ActionConfirmed, c.Name, r.deps.Now()); err != nil {
		action := "action.refused"
		var gone *ActionGoneError
		if errors.As(err, &gone) && gone.State == ActionExpired {
			action = "action.expired"
		}
		r.audit(ctx, c, action, t.Name, rec.Args, userMessage(err))
		return Outcome{Tool: t.Name, Err: r.localGone(err)}
	}
	args, err := t.Decode(rec.Args)
	if err != nil {
		r.audit(ctx, c, "action.failed", t.Name, rec.Args, userMessage(err))
		return Outcome{Tool: t.Name, Err: err}
	}
	ctx, span := startTool(ctx, c, t, "confirm")
	defer func() { endTool(span, err) }()
	// The confirmer acts, but the audit keeps the request's correlation.
	runAs := c
	runAs.CorrelationID = rec.CorrelationID
	r.audit(ctx, runAs, "action.confirmed", t.Name, rec.Args, "confirmed "+id+" requested by "+rec.RequestedBy.ID)
	res, err := r.run(ctx, runAs, t, args)
	outcome := "ok"
	if err != nil {
		outcome = userMessage(err)
		if isUnexpected(err) {
			r.logger.ErrorContext(ctx, "confirmed action failed", "tool", t.Name, "action_id", id, "ref", Ref(err), "err", err)
		}
	}
	r.audit(ctx, runAs, "action.done", t.Name, rec.Args, outcome)
	return Outcome{Tool: t.Name, Result: res, Err: err}
}

// Dismiss cancels pending action id as c: the requester or anyone who may
// confirm it.
func (r *Registry) Dismiss(ctx context.Context, c Caller, id string) Outcome {
	if r.actions == nil {
		return Outcome{Err: userErrf("write actions are off here")}
	}
	rec, err := r.actions.get(ctx, id)
	if err != nil {
		return Outcome{Err: r.localGone(err)}
	}
	if c.ID != rec.RequestedBy.ID && !mayConfirm(c, &rec.Pending) {
		r.audit(ctx, c, "action.refused", rec.Tool, rec.Args, "not allowed to cancel "+id)
		return Outcome{Tool: rec.Tool, Err: &ForbiddenError{Msg: fmt.Sprintf("only %s or an admin can cancel this", rec.RequestedBy.Name)}}
	}
	if err := r.actions.claim(ctx, id, ActionCancelled, c.Name, r.deps.Now()); err != nil {
		return Outcome{Tool: rec.Tool, Err: r.localGone(err)}
	}
	r.audit(ctx, c, "action.cancelled", rec.Tool, rec.Args, "cancelled "+id)
	return Outcome{Tool: rec.Tool, Result: Result{
		Data: map[string]any{"status": "cancelled", "action_id": id},
		View: View{Title: "Cancelled: " + rec.Summary, Text: "Nothing was done."},
	}}
}

// ExpireActions marks pending actions past their expiry as expired and
// audits each, once across replicas. It returns how many it expired.
func (r *Registry) ExpireActions(ctx context.Context) (int, error) {
	if r.actions == nil {
		return 0, nil
	}
	now := r.deps.Now()
	ids, err := r.actions.due(ctx, now, 500)
	if err != nil {
		return 0, fmt.Errorf("tools: expire actions: %w", err)
	}
	n := 0
	for _, id := range ids {
		rec, err := r.actions.get(ctx, id)
		if err != nil {
			// Forgotten already: drop it from the index.
			r.actions.rdb.ZRem(ctx, r.actions.openKey(), id)
			continue
		}
		if err := r.actions.claim(ctx, id, ActionExpired, "", now); err != nil {
			continue // confirmed or cancelled meanwhile, or another replica expired it
		}
		n++
		r.audit(ctx, rec.RequestedBy, "action.expired", rec.Tool, rec.Args, "expired "+id)
	}
	return n, nil
}

// localGone shows an *ActionGoneError's time in the fleet's zone.
func (r *Registry) localGone(err error) error {
	var gone *ActionGoneError
	if errors.As(err, &gone) && !gone.At.IsZero() {
		g := *gone
		g.At = g.At.In(r.deps.Zone)
		return &g
	}
	return err
}

// ForbiddenError is a caller who may not decide a pending action.
type ForbiddenError struct{ Msg string }

func (e *ForbiddenError) Error() string { return e.Msg }

// ErrorCode is fault's forbidden.
func (e *ForbiddenError) ErrorCode() string { return string(fault.Forbidden) }

// ErrorMessage is the message itself.
func (e *ForbiddenError) ErrorMessage() string { return e.Msg }

// Execute runs a write tool at once for a program whose role allows it
// (an API key): a program is deliberate, so there is no card to confirm,
// but the arguments go through the same checks and preview a person's
// request does, and the write is audited with the caller's name. Read
// tools run as Invoke runs them.
func (r *Registry) Execute(ctx context.Context, c Caller, name string, raw []byte) (out Outcome) {
	t, ok := r.byName[name]
	if !ok || !t.Write {
		return r.Invoke(ctx, c, name, raw)
	}
	ctx, span := startTool(ctx, c, t, "execute")
	defer func() { endTool(span, out.Err) }()
	args, err := t.Decode(raw)
	if err != nil {
		r.audit(ctx, c, "tool.refused", name, raw, err.Error())
		return Outcome{Tool: name, Err: err}
	}
	if !Allows(c.Role, t.Role) {
		err := &PermissionError{Tool: t.Name, Need: t.Role, Have: c.Role}
		r.audit(ctx, c, "tool.refused", t.Name, raw, err.Error())
		return Outcome{Tool: t.Name, Err: err}
	}
	args, summary, err := t.preview(ctx, c, args)
	if err != nil {
		r.audit(ctx, c, "action.refused", t.Name, raw, userMessage(err))
		return Outcome{Tool: t.Name, Err: err}
	}
	canonical, err := json.Marshal(args)
	if err != nil {
		return Outcome{Tool: t.Name, Err: fmt.Errorf("tools: %s: encode arguments: %w", t.Name, err)}
	}
	r.audit(ctx, c, "action.executed", t.Name, canonical, summary)
	res, err := r.run(ctx, c, t, args)
	outcome := "ok"
	if err != nil {
		outcome = userMessage(err)
		if isUnexpected(err) {
			r.logger.ErrorContext(ctx, "direct write failed", "tool", t.Name, "correlation_id", c.CorrelationID, "ref", Ref(err), "err", err)
		}
	}
	r.audit(ctx, c, "action.done", t.Name, canonical, outcome)
	return Outcome{Tool: t.Name, Result: res, Err: err}
}
