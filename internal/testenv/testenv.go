// Package testenv gives tests what every package's tests need beside
// storetest's Postgres: a logger writing to the test's log, and a client of
// the real Redis that scripts/services.sh starts.
package testenv

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// logWriter sends log lines to the test's log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Logger logs to t's log, so a test's lines show only when it fails or
// with -v.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, nil))
}

// Redis connects to the test Redis (REDIS_URL, or the local one that
// scripts/services.sh starts), closed when the test ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opts := &redis.Options{Addr: "127.0.0.1:6379"}
	if u := os.Getenv("REDIS_URL"); u != "" {
		var err error
		if opts, err = redis.ParseURL(u); err != nil {
			t.Fatalf("REDIS_URL: %v", err)
		}
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// DeadRedis is a client of a port where nothing listens: every call fails
// at once.
func DeadRedis(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
