package store

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// step is one fix in a hand-made sequence: minutes after t0, inside which
// places, speed and ignition.
type step struct {
	min    float64
	inside []int64
	speed  float64
	ign    bool
}

func runFold(steps []step) []effect {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	var st trackState
	var all []effect
	for _, s := range steps {
		sp, ign := s.speed, s.ign
		var effs []effect
		st, effs = fold(st, foldFix{At: t0.Add(time.Duration(s.min * float64(time.Minute))), Point: Point{Lat: 6.45, Lon: 3.39},
			SpeedKmh: &sp, Ignition: &ign, Inside: s.inside}, DefaultRules())
		all = append(all, effs...)
	}
	return all
}

// summary renders effects as "enter 1 @0" / "exit 1 @12 (from 0)" etc. in
// minutes after t0.
func summary(effs []effect) []string {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	m := func(t time.Time) float64 { return t.Sub(t0).Minutes() }
	var out []string
	for _, e := range effs {
		switch e.Kind {
		case effEnter:
			out = append(out, fmt.Sprintf("enter %d @%g (confirmed @%g)", e.Loc, m(e.At), m(e.Confirmed)))
		case effExit:
			out = append(out, fmt.Sprintf("exit %d @%g (entered @%g, confirmed @%g)", e.Loc, m(e.At), m(e.Entered), m(e.Confirmed)))
		case effOverspeedStart:
			out = append(out, fmt.Sprintf("overspeed @%g %gkm/h", m(e.At), e.Value))
		case effOverspeedEnd:
			out = append(out, fmt.Sprintf("overspeed end @%g from @%g max %g", m(e.At), m(e.Start), e.Value))
		case effIdleStart:
			out = append(out, fmt.Sprintf("idle @%g", m(e.At)))
		case effIdleEnd:
			out = append(out, fmt.Sprintf("idle end @%g from @%g", m(e.At), m(e.Start)))
		}
	}
	return out
}

func TestFoldDwellRule(t *testing.T) {
	t.Parallel()
	in := []int64{7}
	var out []int64
	moving := func(min float64, inside []int64) step { return step{min: min, inside: inside, speed: 30, ign: true} }
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"enter after five minutes inside", []step{moving(0, out), moving(1, in), moving(3, in), moving(6, in)},
			[]string{"enter 7 @1 (confirmed @6)"}},
		{"four and a half minutes is a pass-through", []step{moving(0, in), moving(2, in), moving(4.5, in), moving(5, out), moving(20, out)},
			nil},
		{"exactly five minutes enters", []step{moving(0, in), moving(5, in)}, []string{"enter 7 @0 (confirmed @5)"}},
		{"jitter out during a visit does not end it", []step{
			moving(0, in), moving(6, in), moving(10, out), moving(12, out), moving(13, in), moving(30, in)},
			[]string{"enter 7 @0 (confirmed @6)"}},
		{"leave after five minutes outside", []step{
			moving(0, in), moving(6, in), moving(10, out), moving(14, out), moving(15, out)},
			[]string{"enter 7 @0 (confirmed @6)", "exit 7 @10 (entered @0, confirmed @15)"}},
		{"jitter in while outside makes no visit", []step{
			moving(0, out), moving(1, in), moving(2, out), moving(3, in), moving(4, out), moving(5, in), moving(6, out), moving(12, out)},
			nil},
		{"a long gap inside still enters", []step{moving(0, in), moving(45, in)}, []string{"enter 7 @0 (confirmed @45)"}},
		{"nested places are independent", []step{
			moving(0, []int64{3}), moving(2, []int64{3, 7}), moving(6, []int64{3, 7}), moving(7, []int64{3, 7}),
			moving(8, []int64{3}), moving(14, []int64{3})},
			[]string{"enter 3 @0 (confirmed @6)", "enter 7 @2 (confirmed @7)", "exit 7 @8 (entered @2, confirmed @14)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := summary(runFold(tc.steps))
			if !slices.Equal(got, tc.want) {
				t.Errorf("effects = %q\nwant      %q", got, tc.want)
			}
		})
	}
}

func TestFoldEpisodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"one overspeed alert per episode", []step{
			{min: 0, speed: 50, ign: true}, {min: 1, speed: 65, ign: true}, {min: 2, speed: 80, ign: true},
			{min: 3, speed: 70, ign: true}, {min: 4, speed: 55, ign: true}, {min: 5, speed: 61, ign: true}},
			[]string{"overspeed @1 65km/h", "overspeed end @4 from @1 max 80", "overspeed @5 61km/h"}},
		{"exactly the limit is not speeding", []step{{min: 0, speed: 60, ign: true}}, nil},
		{"idle after twenty minutes with ignition on", []step{
			{min: 0, speed: 0, ign: true}, {min: 10, speed: 1, ign: true}, {min: 20, speed: 0, ign: true},
			{min: 30, speed: 0, ign: true}, {min: 31, speed: 25, ign: true}},
			[]string{"idle @0", "idle end @31 from @0"}},
		{"ignition off is parked, not idling", []step{
			{min: 0, speed: 0, ign: false}, {min: 30, speed: 0, ign: false}}, nil},
		{"nineteen minutes is not idling", []step{
			{min: 0, speed: 0, ign: true}, {min: 19, speed: 0, ign: true}, {min: 20, speed: 0, ign: false}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := summary(runFold(tc.steps))
			if !slices.Equal(got, tc.want) {
				t.Errorf("effects = %q\nwant      %q", got, tc.want)
			}
		})
	}
}
