package tools

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/openai/openai-go/v3/responses"
	"github.com/redis/go-redis/v9"
)

// ConversationTTL is how long a thread is remembered after its last turn.
const ConversationTTL = 24 * time.Hour

// maxTurns is how many recent turns a thread keeps, to replay when the
// model's server has forgotten the previous response.
const maxTurns = 8

// maxTurnChars caps each remembered message.
const maxTurnChars = 2000

// Conversations keeps each thread's previous_response_id and its recent
// turns in Redis, so any replica can continue any thread.
type Conversations struct {
	rdb    redis.UniversalClient
	prefix string
	logger *slog.Logger
}

// NewConversations keeps threads under keys starting with prefix.
func NewConversations(rdb redis.UniversalClient, prefix string, logger *slog.Logger) *Conversations {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Conversations{rdb: rdb, prefix: prefix, logger: logger}
}

// Turn is one exchange of a thread.
type Turn struct {
	User      string `json:"user"`
	Assistant string `json:"assistant"`
}

// threadState is what a thread keeps.
type threadState struct {
	PreviousResponseID string `json:"previous_response_id"`
	Turns              []Turn `json:"turns"`
}

// history is the thread's turns as model input, oldest first.
func (s threadState) history() responses.ResponseInputParam {
	var in responses.ResponseInputParam
	for _, t := range s.Turns {
		in = append(in, responses.ResponseInputItemParamOfMessage(t.User, responses.EasyInputMessageRoleUser))
		if t.Assistant != "" {
			in = append(in, responses.ResponseInputItemParamOfMessage(t.Assistant, responses.EasyInputMessageRoleAssistant))
		}
	}
	return in
}

func (c *Conversations) key(thread string) string { return c.prefix + "conv:" + thread }

// load returns the thread's state; a missing thread, or Redis failing, is
// a fresh start (logged): a conversation is a convenience, not a record.
func (c *Conversations) load(ctx context.Context, thread string) threadState {
	var s threadState
	if c == nil || thread == "" {
		return s
	}
	b, err := c.rdb.Get(ctx, c.key(thread)).Bytes()
	if err != nil {
		if err != redis.Nil {
			c.logger.WarnContext(ctx, "load conversation", "thread", thread, "err", err)
		}
		return s
	}
	if err := json.Unmarshal(b, &s); err != nil {
		c.logger.WarnContext(ctx, "decode conversation", "thread", thread, "err", err)
		return threadState{}
	}
	return s
}

// save records a finished turn and the response to continue from.
func (c *Conversations) save(ctx context.Context, thread string, s threadState, responseID, user, assistant string) {
	if c == nil || thread == "" {
		return
	}
	s.PreviousResponseID = responseID
	s.Turns = append(s.Turns, Turn{User: clip(user, maxTurnChars), Assistant: clip(assistant, maxTurnChars)})
	if len(s.Turns) > maxTurns {
		s.Turns = s.Turns[len(s.Turns)-maxTurns:]
	}
	b, err := json.Marshal(s)
	if err == nil {
		err = c.rdb.Set(context.WithoutCancel(ctx), c.key(thread), b, ConversationTTL).Err()
	}
	if err != nil {
		c.logger.WarnContext(ctx, "save conversation", "thread", thread, "err", err)
	}
}

// forget keeps the turn but drops the response id: a turn that failed
// half-way leaves the server's response waiting for tool outputs, so the
// next turn replays the history instead.
func (c *Conversations) forget(ctx context.Context, thread string, s threadState, user, assistant string) {
	c.save(ctx, thread, s, "", user, assistant)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
