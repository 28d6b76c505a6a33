package sim

import (
	"hash/fnv"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// Trip is a leg a truck drives, from a terminal to a client site, booked as
// a trip with a scheduled departure, and its true milestones (zero: not
// reached by the end). About one trip in six is booked so that the truck
// leaves pickup more than the delay grace after its scheduled departure.
type Trip struct {
	TruckNumber        string
	Pickup, Delivery   string
	ScheduledDeparture time.Time
	Late               bool

	AtPickup, Departed, AtDelivery, Delivered, DepartedDelivery, Returned time.Time
	// DelayStarted and DelayCleared are the departure delay, for a late trip.
	DelayStarted, DelayCleared time.Time
}

// bookTrips books a truck's terminal-to-client legs as trips, at most one
// per trip-overlap window (the store refuses closer ones), and reads their
// milestones from the true visits by the fleet's rules. end is the end of
// the simulation: "now" for what has happened.
func bookTrips(number string, vs []Visit, kinds map[string]string, rules store.FollowRules, end time.Time) []Trip {
	h := fnv.New64a()
	h.Write([]byte(number))
	seed := h.Sum64()
	var out []Trip
	var last time.Time
	var prevDeparted time.Time
	for i := 0; i+1 < len(vs); i++ {
		p, d := vs[i], vs[i+1]
		if kinds[p.LocationCode] != store.LocationTerminal || kinds[d.LocationCode] != store.LocationClient || p.Exited.IsZero() {
			continue
		}
		seed = seed*6364136223846793005 + 1442695040888963407
		late := (seed>>33)%6 == 0
		lead := time.Duration(10+(seed>>40)%80) * time.Minute
		if late {
			lead += rules.DelayAfter + 10*time.Minute
		}
		sched := p.Exited.Add(-lead).Truncate(5 * time.Minute)
		if !last.IsZero() && sched.Sub(last) <= store.TripOverlapWindow {
			continue
		}
		// The trip begins at the first pickup visit lasting into its window;
		// book it only if that is this leg's.
		open := sched.Add(-rules.WindowBefore)
		if !prevDeparted.IsZero() && prevDeparted.After(open) {
			open = prevDeparted
		}
		first := -1
		for k, v := range vs {
			if v.LocationCode == p.LocationCode && (v.Exited.IsZero() || v.Exited.After(open)) {
				first = k
				break
			}
		}
		if first != i {
			continue
		}
		t := Trip{TruckNumber: number, Pickup: p.LocationCode, Delivery: d.LocationCode, ScheduledDeparture: sched,
			Late: sched.Add(rules.DelayAfter).Before(p.Exited)}
		t.AtPickup = p.Entered
		if t.AtPickup.Before(open) {
			t.AtPickup = open
		}
		t.Departed = p.Exited
		if t.Late {
			t.DelayStarted, t.DelayCleared = sched.Add(rules.DelayAfter), p.Exited
		}
		t.AtDelivery = d.Entered
		offloaded := d.Entered.Add(rules.OffloadDwell)
		switch {
		case !d.Exited.IsZero() && d.Exited.Before(offloaded):
			t.Delivered = d.Exited
		case !d.Exited.IsZero() || !end.Before(offloaded):
			t.Delivered = offloaded
		}
		if !d.Exited.IsZero() {
			t.DepartedDelivery = d.Exited
			for _, v := range vs[i+2:] {
				k := kinds[v.LocationCode]
				if v.LocationCode != d.LocationCode && !v.Entered.Before(d.Exited) && (k == store.LocationDepot || k == store.LocationTerminal) {
					t.Returned = v.Entered
					break
				}
			}
		}
		out = append(out, t)
		last, prevDeparted = sched, t.Departed
	}
	return out
}
