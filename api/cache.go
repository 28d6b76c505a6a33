package api

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/watchtower-fleet/watchtower/tools"
)

// readCache keeps each read's answer for a moment. A wallboard or a portal
// asking for the same truck many times a second then costs the store one
// tool call a second, not one a request; concurrent askers of the same
// thing share one call. An answer is at most TTL old (trucks report every
// 10 to 30 s), and a write through this replica drops every answer.
type readCache struct {
	ttl   time.Duration
	mu    sync.Mutex
	m     map[string]cachedRead
	group singleflight.Group
	gen   atomic.Uint64
}

type cachedRead struct {
	out  tools.Outcome
	body []byte // the data as JSON, encoded once
	at   time.Time
	gen  uint64
}

// readCacheMax bounds the cache; past it, it starts again.
const readCacheMax = 10_000

func newReadCache(ttl time.Duration) *readCache {
	if ttl <= 0 {
		return nil
	}
	return &readCache{ttl: ttl, m: map[string]cachedRead{}}
}

// get returns the answer to key, calling fetch when there is no fresh
// one. Failures are not kept.
func (c *readCache) get(ctx context.Context, key string, fetch func(context.Context) tools.Outcome) (tools.Outcome, []byte) {
	if c == nil {
		out := fetch(ctx)
		return out, encode(out)
	}
	gen := c.gen.Load()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && e.gen == gen && time.Since(e.at) < c.ttl {
		return e.out, e.body
	}
	v, _, _ := c.group.Do(key, func() (any, error) {
		out := fetch(ctx)
		e := cachedRead{out: out, body: encode(out), at: time.Now(), gen: gen}
		if out.Err == nil {
			c.mu.Lock()
			if len(c.m) >= readCacheMax {
				clear(c.m)
			}
			c.m[key] = e
			c.mu.Unlock()
		}
		return e, nil
	})
	e = v.(cachedRead)
	return e.out, e.body
}

// drop forgets every answer (after a write).
func (c *readCache) drop() {
	if c != nil {
		c.gen.Add(1)
	}
}

func encode(out tools.Outcome) []byte {
	if out.Err != nil {
		return nil
	}
	b, err := json.Marshal(out.Result.Data)
	if err != nil {
		return nil
	}
	return append(b, '\n')
}
