package sim

import (
	"time"
)

// Phases of a truck at one place under the dwell rule.
const (
	phaseOut        = iota
	phasePendingIn  // inside, not yet for Dwell
	phaseIn         // entered
	phasePendingOut // entered, then outside, not yet for Dwell
)

// visits applies the dwell rule to one truck's fixes in time order: a visit
// begins at the first fix of a run of inside fixes lasting Dwell, and ends at
// the first fix of a run of outside fixes lasting Dwell. Shorter runs are a
// pass-through or jitter. It is the rule of the service's tracking fold,
// step for step.
func visits(fixes []Fix, fences []fence, dwell time.Duration) []Visit {
	var out []Visit
	for i := range fences {
		f := &fences[i]
		phase, since, entered := phaseOut, time.Time{}, time.Time{}
		for _, x := range fixes {
			in := f.contains(x.Point)
			switch phase {
			case phaseOut:
				if in {
					phase, since = phasePendingIn, x.At
				}
			case phasePendingIn:
				if !in {
					phase = phaseOut
				} else if x.At.Sub(since) >= dwell {
					phase, entered = phaseIn, since
				}
			case phaseIn:
				if !in {
					phase, since = phasePendingOut, x.At
				}
			case phasePendingOut:
				if in {
					phase = phaseIn
				} else if x.At.Sub(since) >= dwell {
					out = append(out, Visit{TruckNumber: x.TruckNumber, LocationCode: f.loc.Code, Entered: entered, Exited: since})
					phase = phaseOut
				}
			}
		}
		if phase == phaseIn || phase == phasePendingOut {
			out = append(out, Visit{TruckNumber: fixes[0].TruckNumber, LocationCode: f.loc.Code, Entered: entered})
		}
	}
	return out
}

// episodes finds overspeed spells (from the first fix above OverspeedKmh to
// the first not above it) and idling (ignition on and below IdleSpeedKmh,
// counted once some fix of the run is IdleAfter past its first).
func episodes(fixes []Fix) []Episode {
	var out []Episode
	var speeding, idle *Episode
	idleLong := false
	for _, x := range fixes {
		if x.SpeedKmh > OverspeedKmh {
			if speeding == nil {
				speeding = &Episode{TruckNumber: x.TruckNumber, Kind: EpisodeOverspeed, Start: x.At}
			}
		} else if speeding != nil {
			speeding.End = x.At
			out = append(out, *speeding)
			speeding = nil
		}
		if x.Ignition && x.SpeedKmh < IdleSpeedKmh {
			if idle == nil {
				idle, idleLong = &Episode{TruckNumber: x.TruckNumber, Kind: EpisodeIdle, Start: x.At}, false
			}
			idleLong = idleLong || x.At.Sub(idle.Start) >= IdleAfter
		} else if idle != nil {
			if idleLong {
				idle.End = x.At
				out = append(out, *idle)
			}
			idle = nil
		}
	}
	if speeding != nil {
		out = append(out, *speeding)
	}
	if idle != nil && idleLong {
		out = append(out, *idle)
	}
	return out
}

// gaps lists the silences of one truck's tracker longer than OfflineAfter.
func gaps(fixes []Fix) []Gap {
	var out []Gap
	for i := 1; i < len(fixes); i++ {
		if fixes[i].At.Sub(fixes[i-1].At) > OfflineAfter {
			out = append(out, Gap{TruckNumber: fixes[i].TruckNumber, From: fixes[i-1].At, To: fixes[i].At})
		}
	}
	return out
}
