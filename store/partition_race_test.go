package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/watchtower-fleet/watchtower/store"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// TestEnsureDaysReplicasRace: replicas (stores with their own partition
// caches) that see the first fix of a new day at the same moment all
// succeed: the day's partition is created once and nobody's batch fails
// with "already exists". Found by the two-replica end-to-end test.
func TestEnsureDaysReplicasRace(t *testing.T) {
	t.Parallel()
	s := storetest.NewSchema(t)
	if _, err := store.NewFromPool(s.Pool).Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	dbs := make([]*store.DB, replicas)
	for i := range dbs {
		pool, err := pgxpool.New(context.Background(), s.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		dbs[i] = store.NewFromPool(pool)
	}
	day := time.Date(2019, 3, 1, 12, 0, 0, 0, time.UTC)
	for round := range 20 {
		fixes := []store.FixInput{{Fix: store.Fix{At: day.AddDate(0, 0, round)}}}
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		start := make(chan struct{})
		for i, db := range dbs {
			wg.Go(func() {
				<-start
				errs[i] = store.EnsureDays(db, context.Background(), fixes)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, replica %d: %v", round, i, err)
			}
		}
	}
}
