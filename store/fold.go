package store

import (
	"cmp"
	"slices"
	"time"
)

// Rules are the thresholds of the tracking fold. Zero values take the
// defaults (DefaultRules).
type Rules struct {
	// Dwell is how long a truck must be inside a place to have entered it,
	// and outside to have left: GPS jitter across a boundary and brief
	// pass-throughs make no visit.
	Dwell        time.Duration
	OverspeedKmh float64       // above this is speeding
	IdleAfter    time.Duration // ignition on and not moving for this long is idling
	IdleSpeedKmh float64       // below this a truck is not moving
	// Follow, when set, follows the trips of the trucks whose visits a
	// batch changed, in the batch's transaction (see RecordResult.TripEvents).
	Follow *FollowRules
	// Now is the clock for following (time.Now).
	Now func() time.Time
}

// DefaultRules are the fleet's thresholds.
func DefaultRules() Rules {
	return Rules{Dwell: 5 * time.Minute, OverspeedKmh: 60, IdleAfter: 20 * time.Minute, IdleSpeedKmh: 3}
}

func (r Rules) withDefaults() Rules {
	d := DefaultRules()
	if r.Dwell <= 0 {
		r.Dwell = d.Dwell
	}
	if r.OverspeedKmh <= 0 {
		r.OverspeedKmh = d.OverspeedKmh
	}
	if r.IdleAfter <= 0 {
		r.IdleAfter = d.IdleAfter
	}
	if r.IdleSpeedKmh <= 0 {
		r.IdleSpeedKmh = d.IdleSpeedKmh
	}
	return r
}

// Place phases of the fold.
const (
	phasePendingIn  = 1 // inside, not yet for Dwell
	phaseInside     = 2 // entered
	phasePendingOut = 3 // entered, then outside, not yet for Dwell
)

// trackState is the fold's state after a fix. It is stored as JSON with the
// fix, hence the short names.
type trackState struct {
	Places []placeState `json:"p,omitempty"` // sorted by location id
	Speed  *episode     `json:"s,omitempty"` // overspeed in progress
	Idle   *episode     `json:"i,omitempty"` // idling in progress
}

type placeState struct {
	Loc     int64     `json:"l"`
	Phase   int8      `json:"ph"`
	Since   time.Time `json:"t"`          // start of the pending phase
	Entered time.Time `json:"e,omitzero"` // when the visit began
}

type episode struct {
	Start   time.Time `json:"t"`
	Max     float64   `json:"m,omitempty"`
	Alerted bool      `json:"a,omitempty"`
	Point   Point     `json:"pt"`
}

// foldFix is a fix as the fold sees it: when, where, and which places
// contain it.
type foldFix struct {
	At       time.Time
	Point    Point
	SpeedKmh *float64
	Ignition *bool
	Inside   []int64 // location ids, sorted
}

type effectKind int

const (
	effEnter effectKind = iota + 1
	effExit
	effOverspeedStart
	effOverspeedEnd
	effIdleStart
	effIdleEnd
)

// effect is something a fold step decided: a visit began or ended, an
// episode deserves an alert or is over.
type effect struct {
	Kind      effectKind
	Loc       int64
	At        time.Time // entered_at, exited_at, episode start or end
	Entered   time.Time // the visit's start, for exits
	Start     time.Time // the episode's start, for ends
	Confirmed time.Time // the fix that decided it
	Point     Point
	Value     float64 // max speed, or idle minutes
}

// fold applies one fix to the state. It is a pure function: the same fixes
// in time order always give the same visits and episodes, which is what
// makes rewinding for late fixes safe.
func fold(s trackState, f foldFix, r Rules) (trackState, []effect) {
	var out []effect
	next := trackState{Speed: s.Speed, Idle: s.Idle}

	// Places: carry each known one forward, then start the new ones.
	for _, p := range s.Places {
		in := containsID(f.Inside, p.Loc)
		switch p.Phase {
		case phasePendingIn:
			if !in {
				continue // a pass-through, or jitter: no visit
			}
			if f.At.Sub(p.Since) >= r.Dwell {
				p.Phase, p.Entered = phaseInside, p.Since
				out = append(out, effect{Kind: effEnter, Loc: p.Loc, At: p.Since, Confirmed: f.At, Point: f.Point})
			}
		case phaseInside:
			if !in {
				p.Phase, p.Since = phasePendingOut, f.At
			}
		case phasePendingOut:
			if in {
				p.Phase, p.Since = phaseInside, time.Time{} // jitter: never left
			} else if f.At.Sub(p.Since) >= r.Dwell {
				out = append(out, effect{Kind: effExit, Loc: p.Loc, At: p.Since, Entered: p.Entered, Confirmed: f.At, Point: f.Point})
				continue
			}
		}
		next.Places = append(next.Places, p)
	}
	for _, loc := range f.Inside {
		if !slices.ContainsFunc(s.Places, func(p placeState) bool { return p.Loc == loc }) {
			next.Places = append(next.Places, placeState{Loc: loc, Phase: phasePendingIn, Since: f.At})
		}
	}
	slices.SortFunc(next.Places, func(a, b placeState) int { return cmp.Compare(a.Loc, b.Loc) })

	// Overspeed: one alert per episode, raised by its first fix.
	speeding := f.SpeedKmh != nil && *f.SpeedKmh > r.OverspeedKmh
	switch {
	case speeding && next.Speed == nil:
		next.Speed = &episode{Start: f.At, Max: *f.SpeedKmh, Alerted: true, Point: f.Point}
		out = append(out, effect{Kind: effOverspeedStart, At: f.At, Confirmed: f.At, Point: f.Point, Value: *f.SpeedKmh})
	case speeding:
		e := *next.Speed
		e.Max = max(e.Max, *f.SpeedKmh)
		next.Speed = &e
	case next.Speed != nil && f.SpeedKmh != nil:
		out = append(out, effect{Kind: effOverspeedEnd, At: f.At, Start: next.Speed.Start, Confirmed: f.At, Point: f.Point, Value: next.Speed.Max})
		next.Speed = nil
	}

	// Idling: ignition on and not moving for IdleAfter. A fix without an
	// ignition flag neither starts nor ends it by itself.
	moving := f.SpeedKmh != nil && *f.SpeedKmh >= r.IdleSpeedKmh
	idle := !moving && (f.Ignition != nil && *f.Ignition || f.Ignition == nil && next.Idle != nil)
	switch {
	case idle && next.Idle == nil:
		next.Idle = &episode{Start: f.At, Point: f.Point}
	case idle:
		if !next.Idle.Alerted && f.At.Sub(next.Idle.Start) >= r.IdleAfter {
			e := *next.Idle
			e.Alerted = true
			next.Idle = &e
			out = append(out, effect{Kind: effIdleStart, At: e.Start, Confirmed: f.At, Point: e.Point,
				Value: f.At.Sub(e.Start).Minutes()})
		}
	case next.Idle != nil:
		if next.Idle.Alerted {
			out = append(out, effect{Kind: effIdleEnd, At: f.At, Start: next.Idle.Start, Confirmed: f.At, Point: f.Point,
				Value: f.At.Sub(next.Idle.Start).Minutes()})
		}
		next.Idle = nil
	}
	return next, out
}

func containsID(sorted []int64, id int64) bool {
	_, ok := slices.BinarySearch(sorted, id)
	return ok
}
