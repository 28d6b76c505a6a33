package loconavtest

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Clock is a LocoNav client's clock and sleep for tests: sleeping advances
// it at once and records the wait, so backoffs and pacing are checked
// without waiting.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// NewClock is a Clock at 07:00 UTC on 6 February 2024, the time of the
// published examples.
func NewClock() *Clock {
	return &Clock{now: time.Date(2024, 2, 6, 7, 0, 0, 0, time.UTC)}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep records d and advances the clock by it, unless ctx has ended.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return nil
}

// Advance moves the clock on by d without recording a wait.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Waits are the sleeps so far, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// UUID is a well-formed vehicle UUID numbered i.
func UUID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
}
