// Package sim simulates the demo fleet: a day of container jobs around Lagos
// as LocoNav would report it, fix by fix, with the ground truth that the
// tracking fold must find in it (visits by the dwell rule, overspeed and
// idling episodes, silent trackers). The same Config always gives the same
// fixes.
package sim

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// Thresholds of the fleet's rules, as the service applies them.
const (
	OverspeedKmh = 60
	IdleSpeedKmh = 3
	IdleAfter    = 20 * time.Minute
	OfflineAfter = 2 * time.Hour
)

// Scenario parameters.
const (
	noiseSigmaM  = 10.0 // GPS error per axis
	noiseCapM    = 30.0
	dwellMarginM = 40.0 // a parked truck stays this deep inside: noise never crosses the fence
	borderM      = 2.0  // no emitted fix lies closer than this to a fence line
	jitterOutM   = 5.0  // the jitter truck parks this far outside a circle
	silentFor    = 3 * time.Hour
)

// Config says what to simulate. Zero FixInterval and Dwell take defaults.
type Config struct {
	Seed        uint64
	Start       time.Time     // first fix time, truncated to the second; each truck reports at its own second within the first FixInterval
	Duration    time.Duration // e.g. 24h
	FixInterval time.Duration // default 30s, whole seconds
	Trucks      []store.Truck // Number, and LocoNavNumber as the payloads spell it (Number if empty)
	Places      []store.Location
	Dwell       time.Duration // default 5m: the dwell rule of the ground truth
}

// Fix is one GPS report of one truck.
type Fix struct {
	TruckNumber   string // the fleet's number
	VehicleNumber string // as LocoNav spells it in payloads
	IMEI          string
	At            time.Time
	Point         store.Point // six decimals, as sent
	SpeedKmh      float64     // one decimal
	Heading       float64     // whole degrees from north
	Ignition      bool
}

// Visit is a stay decided by the dwell rule. Exited is zero when the truck is
// still inside at the end.
type Visit struct {
	TruckNumber, LocationCode string
	Entered, Exited           time.Time
}

// Episode kinds.
const (
	EpisodeOverspeed = "overspeed"
	EpisodeIdle      = "idle"
)

// Episode is an overspeed or idling spell: from its first fix to the first fix
// that ends it (zero End: still going at the end).
type Episode struct {
	TruckNumber string
	Kind        string
	Start, End  time.Time
}

// Near-miss kinds.
const (
	NearMissPassThrough = "pass_through" // drove across the fence in under Dwell
	NearMissJitter      = "jitter"       // parked just outside a circle, fixes flipping in and out
)

// NearMiss is a planned moment when a truck was in or at a place without
// visiting it; the truth has no visit overlapping it. Start and End are fix
// times (for a pass-through: the first with the true position inside, and the
// first after it outside).
type NearMiss struct {
	TruckNumber, LocationCode, Kind string
	Start, End                      time.Time
}

// Gap is a silence of a tracker: From is its last fix before, To the first after.
type Gap struct {
	TruckNumber string
	From, To    time.Time
}

// Truth is what the fixes mean, computed from the fixes actually emitted.
type Truth struct {
	Visits     []Visit    // by truck, time, place
	Episodes   []Episode  // by truck, time, kind
	Silent     []string   // trucks with a gap of more than OfflineAfter
	Gaps       []Gap      // those gaps
	NearMisses []NearMiss // pass-throughs and the jitter parking
	// Trips are the legs booked as trips, with their true milestones
	// under the default follow rules.
	Trips []Trip
	// Nudged counts fixes whose noise was redrawn because they fell within
	// borderM of a fence line, where the service's 64-gon and this package's
	// exact circle could disagree.
	Nudged int
}

// Sim is a simulated fleet day, computed once by New.
type Sim struct {
	cfg   Config
	fixes []Fix
	truth Truth
}

// New validates cfg and runs the simulation.
func New(cfg Config) (*Sim, error) {
	if err := cfg.normalize(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	w, err := newWorld(cfg)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}

	// Roles come from their own stream so that each truck's day depends only
	// on the seed and its own number.
	roles := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_0f_10b5))
	jitter, silent := roles.IntN(len(cfg.Trucks)), -1
	if n := len(cfg.Trucks); n >= 2 && cfg.Duration >= 2*silentFor {
		silent = (jitter + 1 + roles.IntN(n-1)) % n
	}

	s := &Sim{cfg: cfg}
	kinds := map[string]string{}
	for _, l := range cfg.Places {
		kinds[l.Code] = l.Kind
	}
	for i, t := range cfg.Trucks {
		tr := newTruck(w, t)
		if i == silent {
			from := cfg.Start.Add(time.Duration(float64(cfg.Duration-silentFor) * (0.35 + 0.2*tr.rng.Float64()))).Truncate(time.Minute)
			tr.silentFrom, tr.silentTo = from, from.Add(silentFor)
		}
		tr.jitterPending = i == jitter && w.hasCircle
		fixes := tr.run()
		s.truth.Nudged += tr.nudged
		s.truth.NearMisses = append(s.truth.NearMisses, tr.nearMisses...)
		vs := visits(fixes, w.fences, cfg.Dwell)
		slices.SortFunc(vs, func(a, b Visit) int {
			return cmp.Or(a.Entered.Compare(b.Entered), cmp.Compare(a.LocationCode, b.LocationCode))
		})
		s.truth.Visits = append(s.truth.Visits, vs...)
		s.truth.Trips = append(s.truth.Trips, bookTrips(t.Number, vs, kinds, store.DefaultFollowRules(), cfg.Start.Add(cfg.Duration))...)
		s.truth.Episodes = append(s.truth.Episodes, episodes(fixes)...)
		gaps := gaps(fixes)
		s.truth.Gaps = append(s.truth.Gaps, gaps...)
		if len(gaps) > 0 {
			s.truth.Silent = append(s.truth.Silent, t.Number)
		}
		s.fixes = append(s.fixes, fixes...)
	}
	slices.SortStableFunc(s.fixes, func(a, b Fix) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.TruckNumber, b.TruckNumber))
	})
	slices.Sort(s.truth.Silent)
	slices.SortFunc(s.truth.Visits, func(a, b Visit) int {
		return cmp.Or(cmp.Compare(a.TruckNumber, b.TruckNumber), a.Entered.Compare(b.Entered), cmp.Compare(a.LocationCode, b.LocationCode))
	})
	slices.SortFunc(s.truth.Episodes, func(a, b Episode) int {
		return cmp.Or(cmp.Compare(a.TruckNumber, b.TruckNumber), a.Start.Compare(b.Start), cmp.Compare(a.Kind, b.Kind))
	})
	slices.SortFunc(s.truth.NearMisses, func(a, b NearMiss) int {
		return cmp.Or(cmp.Compare(a.TruckNumber, b.TruckNumber), a.Start.Compare(b.Start), cmp.Compare(a.LocationCode, b.LocationCode))
	})
	return s, nil
}

// Fixes returns every fix of every truck, by time then truck number. The
// slice is the caller's.
func (s *Sim) Fixes() []Fix { return slices.Clone(s.fixes) }

// Truth returns what the fixes mean.
func (s *Sim) Truth() Truth {
	t := s.truth
	t.Visits, t.Episodes, t.Silent = slices.Clone(t.Visits), slices.Clone(t.Episodes), slices.Clone(t.Silent)
	t.Gaps, t.NearMisses, t.Trips = slices.Clone(t.Gaps), slices.Clone(t.NearMisses), slices.Clone(t.Trips)
	return t
}

func (c *Config) normalize() error {
	if c.FixInterval == 0 {
		c.FixInterval = 30 * time.Second
	}
	if c.Dwell == 0 {
		c.Dwell = 5 * time.Minute
	}
	c.Start = c.Start.Truncate(time.Second)
	switch {
	case c.Start.IsZero():
		return errors.New("config: start time is not set")
	case c.Duration <= 0 || c.Duration > 31*24*time.Hour:
		return fmt.Errorf("config: duration %v is outside 0..31 days", c.Duration)
	case c.FixInterval < time.Second || c.FixInterval%time.Second != 0 || c.FixInterval > 10*time.Minute:
		return fmt.Errorf("config: fix interval %v must be whole seconds, 1s..10m", c.FixInterval)
	case c.Dwell < 2*c.FixInterval:
		return fmt.Errorf("config: dwell %v must be at least two fix intervals (%v)", c.Dwell, 2*c.FixInterval)
	case len(c.Trucks) == 0:
		return errors.New("config: no trucks")
	}
	seen := map[string]bool{}
	for i, t := range c.Trucks {
		if t.Number == "" {
			return fmt.Errorf("config: truck %d has no number", i+1)
		}
		if seen[t.Number] {
			return fmt.Errorf("config: truck %s appears twice", t.Number)
		}
		seen[t.Number] = true
	}
	clear(seen)
	for i, l := range c.Places {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("config: place %d (%s): %w", i+1, l.Code, err)
		}
		if seen[l.Code] {
			return fmt.Errorf("config: place %s appears twice", l.Code)
		}
		seen[l.Code] = true
	}
	return nil
}

// world is what every truck shares: the fences and where a job can go.
type world struct {
	cfg       Config
	fences    []fence
	dests     []int // fences a truck can park in: not service areas, with room for a parked truck
	hasCircle bool  // a circle to park just outside of, for the jitter case
}

func newWorld(cfg Config) (*world, error) {
	w := &world{cfg: cfg}
	for i, l := range cfg.Places {
		w.fences = append(w.fences, newFence(l))
		f := &w.fences[i]
		if l.Kind != store.LocationServiceArea && f.depth(l.Center) >= dwellMarginM {
			w.dests = append(w.dests, i)
			w.hasCircle = w.hasCircle || f.ring == nil
		}
	}
	if len(w.dests) < 2 {
		return nil, fmt.Errorf("config: need at least two places to drive between (terminals, depots or client sites whose centre is %v m inside the fence), have %d", dwellMarginM, len(w.dests))
	}
	return w, nil
}

// imei makes a stable 15-digit IMEI for a truck, with its Luhn check digit.
func imei(number string) string {
	h := fnv.New64a()
	h.Write([]byte(number))
	body := "86" + fmt.Sprintf("%012d", h.Sum64()%1e12)
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-i)%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + strconv.Itoa((10-sum%10)%10)
}
