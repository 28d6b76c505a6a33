package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/watchtower-fleet/watchtower/store"
)

// KeyStore is what the API needs of the store for keys.
type KeyStore interface {
	APIKeyBySecret(ctx context.Context, secret string) (store.APIKey, error)
	TouchAPIKey(ctx context.Context, id int64, t time.Time) error
}

// keyCacheTTL bounds how long a replica trusts what it looked up. A
// revocation is also published, and every replica forgets the key at once;
// the TTL covers a replica that missed the message.
const keyCacheTTL = 10 * time.Second

// keyCacheMax bounds the cache; past it, the cache starts again.
const keyCacheMax = 10_000

// touchEvery is how often a key's last_used_at is written per replica.
const touchEvery = time.Minute

type keyEntry struct {
	key     store.APIKey
	ok      bool // false: unknown or revoked
	expires time.Time
}

// keys looks up API keys, remembering answers for keyCacheTTL.
type keys struct {
	st     KeyStore
	rdb    redis.UniversalClient
	prefix string
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	cache   map[[32]byte]keyEntry
	touched map[int64]time.Time
	// lookups shares one store lookup among requests with the same key
	// when its entry expires.
	lookups singleflight.Group
	// revoked counts revocations heard: a lookup that began before one
	// does not keep what it found.
	revoked uint64
}

func newKeys(st KeyStore, rdb redis.UniversalClient, prefix string, logger *slog.Logger) *keys {
	return &keys{st: st, rdb: rdb, prefix: prefix, logger: logger, now: time.Now,
		cache: map[[32]byte]keyEntry{}, touched: map[int64]time.Time{}}
}

// revokedChannel carries the names of revoked keys to every replica.
func revokedChannel(prefix string) string { return prefix + "apikeys:revoked" }

// PublishRevoked tells every replica to forget a revoked key now.
func PublishRevoked(ctx context.Context, rdb redis.UniversalClient, prefix, name string) error {
	return rdb.Publish(ctx, revokedChannel(prefix), name).Err()
}

// errNoKey is a request without a usable key.
var errNoKey = errors.New("no key")

// lookup returns the live key for a bearer secret.
func (k *keys) lookup(ctx context.Context, secret string) (store.APIKey, error) {
	if !store.LooksLikeAPIKey(secret) {
		return store.APIKey{}, errNoKey
	}
	h := sha256.Sum256([]byte(secret))
	now := k.now()
	k.mu.Lock()
	e, hit := k.cache[h]
	k.mu.Unlock()
	if !hit || now.After(e.expires) {
		v, err, _ := k.lookups.Do(string(h[:]), func() (any, error) {
			k.mu.Lock()
			gen := k.revoked
			k.mu.Unlock()
			key, err := k.st.APIKeyBySecret(context.WithoutCancel(ctx), secret)
			var e keyEntry
			switch {
			case errors.Is(err, store.ErrNotFound):
				e = keyEntry{expires: now.Add(keyCacheTTL)}
			case err != nil:
				return nil, err
			default:
				e = keyEntry{key: key, ok: true, expires: now.Add(keyCacheTTL)}
			}
			k.mu.Lock()
			if len(k.cache) >= keyCacheMax {
				clear(k.cache)
			}
			if k.revoked == gen {
				k.cache[h] = e
			}
			k.mu.Unlock()
			return e, nil
		})
		if err != nil {
			return store.APIKey{}, err
		}
		e = v.(keyEntry)
	}
	if !e.ok {
		return store.APIKey{}, errNoKey
	}
	k.touch(ctx, e.key.ID, now)
	return e.key, nil
}

// touch records a key's use, at most once a minute per replica, off the
// request's path.
func (k *keys) touch(ctx context.Context, id int64, now time.Time) {
	k.mu.Lock()
	last := k.touched[id]
	due := now.Sub(last) >= touchEvery
	if due {
		k.touched[id] = now
	}
	k.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := k.st.TouchAPIKey(ctx, id, now); err != nil {
			k.logger.Warn("api key last use not recorded", "key_id", id, "err", err)
		}
	}()
}

// forget drops a revoked key by name.
func (k *keys) forget(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.revoked++
	for h, e := range k.cache {
		if e.ok && e.key.Name == name {
			delete(k.cache, h)
		}
	}
}

// watchRevocations forgets keys as they are revoked anywhere, until ctx
// ends.
func (k *keys) watchRevocations(ctx context.Context) {
	if k.rdb == nil {
		return
	}
	sub := k.rdb.Subscribe(ctx, revokedChannel(k.prefix))
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			k.forget(strings.TrimSpace(m.Payload))
		}
	}
}

// limiter is the per-key rate limit, kept in Redis so that every replica
// counts against the same budget (GCRA, redis_rate).
type limiter struct {
	rl    *redis_rate.Limiter
	limit redis_rate.Limit
	pfx   string
}

func newLimiter(rdb redis.UniversalClient, prefix string, perMinute, burst int) *limiter {
	if rdb == nil || perMinute <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(perMinute/6, 1) // ten seconds' worth
	}
	return &limiter{rl: redis_rate.NewLimiter(rdb), limit: redis_rate.Limit{Rate: perMinute, Period: time.Minute, Burst: burst},
		pfx: prefix + "ratelimit:"}
}

func (l *limiter) allow(ctx context.Context, key string) (*redis_rate.Result, error) {
	return l.rl.Allow(ctx, l.pfx+key, l.limit)
}
