package masterdata_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/watchtower-fleet/watchtower/masterdata"
	"github.com/watchtower-fleet/watchtower/masterdata/sheetstest"
	"github.com/watchtower-fleet/watchtower/store/storetest"
)

// A sync of 5,000 truck rows of which 1% changed, in one batchGet: read,
// parse, compare and write. Target: under 2 s. The one-request-a-second
// limiter is lifted here (the job runs every 15 minutes); everything else
// is as in production.
func BenchmarkSheetSync5000(b *testing.B) {
	fake := sheetstest.NewServer(b, sheetID)
	header := []any{"Number", "LocoNav vehicle uuid", "LocoNav number", "Company", "Fleet manager", "Status", "Brand", "Trailer size", "Operating location"}
	rows := [][]any{header}
	for i := range 5000 {
		rows = append(rows, []any{fmt.Sprintf("T%05dLA", 10000+i), "", "", "", "Grace Nnamdi", "active", "Sinotruk HOWO", "20ft", ""})
	}
	fake.SetTab("Trucks", rows)
	_, db := storetest.NewMigrated(b)
	tabs := masterdata.SheetTabs{Trucks: "Trucks"}
	r, err := masterdata.NewSheetReader(context.Background(), sheetID, "", fake.URL(), tabs, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Limiter = rate.NewLimiter(rate.Inf, 1)
	s := &masterdata.SheetSync{Reader: r, DB: db}
	if rep, err := s.Run(context.Background(), "bench", false); err != nil || rep.Diff.Changed() != 5000 {
		b.Fatalf("first sync: %v, %d changed", err, rep.Diff.Changed())
	}
	var took []time.Duration
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		for i := 0; i < 50; i++ { // 1% of the rows change
			rows[1+(round*50+i)%5000][4] = fmt.Sprintf("Manager %d", round)
		}
		fake.SetTab("Trucks", rows)
		requests := len(fake.Requests())
		b.StartTimer()
		start := time.Now()
		rep, err := s.Run(context.Background(), "bench", false)
		took = append(took, time.Since(start))
		if err != nil || len(rep.Diff["trucks"].Updated) != 50 {
			b.Fatalf("sync: %v, %d updated", err, len(rep.Diff["trucks"].Updated))
		}
		if n := len(fake.Requests()) - requests; n != 1 {
			b.Fatalf("%d requests for one sync", n)
		}
	}
	var total time.Duration
	for _, d := range took {
		total += d
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(len(took)), "ms/sync")
}
