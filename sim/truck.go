package sim

import (
	"cmp"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

const (
	passKmh        = 38.0   // steady speed across a planned pass-through
	passApproachM  = 150.0  // it is held this far either side of the fence
	passMaxChordM  = 1500.0 // longest stretch inside: under 2.5 min at passKmh
	accelKmhPerSec = 1.26   // 0.35 m/s², a laden truck
)

type legKind int

const (
	legHold  legKind = iota // standing still
	legDrive                // on the road, speed by stretches
)

// leg is one step of a truck's plan.
type leg struct {
	kind   legKind
	dur    time.Duration // hold
	until  time.Time     // hold: set when it begins
	ign    bool          // hold
	route  *path         // drive
	pass   int           // drive: fence crossed on purpose in under Dwell, or -1
	jitter int           // hold: circle parked just outside of, or -1

	began           time.Time // hold: first fix
	passIn, passOut time.Time // drive: fixes of the pass-through
	passSilent      bool
}

type truck struct {
	w          *world
	t          store.Truck
	rng        *rand.Rand
	imei       string
	at         int // fence the truck is at or bound for
	jobs       int
	legs       []leg
	pos        store.Point // true position
	heading    float64
	speed      float64 // km/h, from this fix to the next
	ign        bool
	target     float64 // road speed wanted in the current stretch
	stretchEnd time.Time

	silentFrom, silentTo time.Time
	jitterPending        bool
	nudged               int
	nearMisses           []NearMiss
}

func newTruck(w *world, t store.Truck) *truck {
	h := fnv.New64a()
	h.Write([]byte(t.Number))
	tr := &truck{w: w, t: t, rng: rand.New(rand.NewPCG(w.cfg.Seed, h.Sum64())), imei: imei(t.Number)}
	var starts []int
	for _, i := range w.dests {
		if k := w.fences[i].loc.Kind; k == store.LocationDepot || k == store.LocationTerminal {
			starts = append(starts, i)
		}
	}
	if len(starts) == 0 {
		starts = w.dests
	}
	tr.at = starts[tr.rng.IntN(len(starts))]
	tr.pos = tr.spot(tr.at)
	tr.heading = float64(tr.rng.IntN(360))
	tr.dwell(tr.at)
	return tr
}

// run drives the truck through the configured time and returns its fixes.
func (tr *truck) run() []Fix {
	cfg := tr.w.cfg
	dt := cfg.FixInterval
	end := cfg.Start.Add(cfg.Duration)
	var out []Fix
	for t := cfg.Start.Add(time.Duration(tr.rng.IntN(int(dt/time.Second))) * time.Second); t.Before(end); t = t.Add(dt) {
		l := tr.current(t)
		tr.decide(t, l)
		silent := !t.Before(tr.silentFrom) && t.Before(tr.silentTo)
		tr.observe(t, l, silent)
		if !silent {
			out = append(out, tr.fix(t))
		}
		if l.route != nil {
			r := l.route
			if r.done += tr.speed / 3.6 * dt.Seconds(); r.remaining() < 0.01 {
				r.done = r.length()
			}
			tr.pos, _ = r.at(r.done)
		}
	}
	return out
}

// current returns the leg under way at t, planning the next job when the
// last one is done.
func (tr *truck) current(t time.Time) *leg {
	for {
		if len(tr.legs) == 0 {
			tr.plan()
		}
		l := &tr.legs[0]
		if l.kind == legHold {
			if l.until.IsZero() {
				l.began, l.until = t, t.Add(l.dur)
			}
			if t.Before(l.until) {
				return l
			}
			if l.jitter >= 0 {
				tr.nearMisses = append(tr.nearMisses, NearMiss{TruckNumber: tr.t.Number,
					LocationCode: tr.w.fences[l.jitter].loc.Code, Kind: NearMissJitter, Start: l.began, End: t})
			}
		} else if l.route.remaining() > 0 {
			return l
		}
		tr.legs = tr.legs[1:]
	}
}

// decide sets speed, heading and ignition from t to the next fix.
func (tr *truck) decide(t time.Time, l *leg) {
	if l.kind == legHold {
		tr.speed, tr.ign = 0, l.ign
		return
	}
	tr.speed, tr.ign = tr.roadSpeed(t, l), true
	// Arrive on a fix, with the speed that gets it there.
	tr.speed = min(tr.speed, l.route.remaining()/tr.w.cfg.FixInterval.Seconds()*3.6)
	if _, h := l.route.at(l.route.done); !math.IsNaN(h) {
		tr.heading = h
	}
}

func (tr *truck) roadSpeed(t time.Time, l *leg) float64 {
	r := tr.rng
	if l.pass >= 0 && tr.w.fences[l.pass].near(tr.pos, passApproachM) {
		tr.stretchEnd = t // a fresh stretch once across
		return passKmh + 4*r.Float64()
	}
	rem := l.route.remaining()
	if !t.Before(tr.stretchEnd) {
		var d time.Duration
		switch x := r.Float64(); {
		case x < 0.1: // traffic: crawl or stop
			tr.target, d = float64(r.IntN(3))*4, time.Duration(60+r.IntN(180))*time.Second
		case x < 0.16 && rem > 4000: // open expressway
			tr.target, d = 64+16*r.Float64(), time.Duration(120+r.IntN(180))*time.Second
		default:
			tr.target, d = 20+30*r.Float64(), time.Duration(120+r.IntN(360))*time.Second
		}
		tr.stretchEnd = t.Add(d)
	}
	target := tr.target
	if rem < 400 {
		target = min(target, 15+rem/40)
	}
	step := accelKmhPerSec * tr.w.cfg.FixInterval.Seconds()
	v := tr.speed + max(-step, min(step, target-tr.speed))
	if target > 5 {
		v += 1.5 * r.NormFloat64()
	}
	return max(0, min(90, v))
}

// observe records the planned pass-through as it happens.
func (tr *truck) observe(t time.Time, l *leg, silent bool) {
	if l.kind != legDrive || l.pass < 0 || !l.passOut.IsZero() {
		return
	}
	l.passSilent = l.passSilent || silent
	in := tr.w.fences[l.pass].contains(tr.pos)
	switch {
	case in && l.passIn.IsZero():
		l.passIn = t
	case !in && !l.passIn.IsZero():
		l.passOut = t
		if !l.passSilent {
			tr.nearMisses = append(tr.nearMisses, NearMiss{TruckNumber: tr.t.Number,
				LocationCode: tr.w.fences[l.pass].loc.Code, Kind: NearMissPassThrough, Start: l.passIn, End: t})
		}
	}
}

// fix is what the tracker reports at t: the true position plus GPS noise.
func (tr *truck) fix(t time.Time) Fix {
	var p store.Point
	for try := 0; ; try++ {
		n, e := noiseSigmaM*tr.rng.NormFloat64(), noiseSigmaM*tr.rng.NormFloat64()
		if h := math.Hypot(n, e); h > noiseCapM {
			n, e = n*noiseCapM/h, e*noiseCapM/h
		}
		p = round6(offset(tr.pos, n, e))
		if try == 100 || tr.clearOfBorders(p) {
			break
		}
		if try == 0 {
			tr.nudged++
		}
	}
	return Fix{
		TruckNumber:   tr.t.Number,
		VehicleNumber: cmp.Or(tr.t.LocoNavNumber, tr.t.Number),
		IMEI:          tr.imei,
		At:            t,
		Point:         p,
		SpeedKmh:      math.Round(tr.speed*10) / 10,
		Heading:       math.Mod(math.Round(tr.heading), 360),
		Ignition:      tr.ign,
	}
}

// clearOfBorders reports whether p is far enough from every fence line that
// an exact circle and the service's 64-gon agree about it.
func (tr *truck) clearOfBorders(p store.Point) bool {
	for i := range tr.w.fences {
		f := &tr.w.fences[i]
		if f.near(p, borderM) && math.Abs(f.depth(p)) < borderM {
			return false
		}
	}
	return true
}

// plan appends the next job: a drive to another place and a stay there.
func (tr *truck) plan() {
	if tr.jitterPending && tr.jobs >= 1 && tr.planJitter() {
		return
	}
	dest := tr.pickDest()
	spot := tr.spot(dest)
	route, pass := tr.route(tr.pos, dest, spot)
	tr.legs = append(tr.legs, leg{kind: legDrive, route: route, pass: pass, jitter: -1})
	tr.at = dest
	tr.jobs++
	tr.dwell(dest)
}

// kindWeights: from a terminal to client sites and depots, and back.
var kindWeights = map[string]map[string]float64{
	store.LocationTerminal: {store.LocationClient: 0.6, store.LocationDepot: 0.25, store.LocationTerminal: 0.15},
	store.LocationClient:   {store.LocationTerminal: 0.7, store.LocationDepot: 0.25, store.LocationClient: 0.05},
	store.LocationDepot:    {store.LocationTerminal: 0.7, store.LocationClient: 0.25, store.LocationDepot: 0.05},
}

func (tr *truck) pickDest() int {
	from := &tr.w.fences[tr.at]
	ws := make([]float64, len(tr.w.dests))
	for j, i := range tr.w.dests {
		if i == tr.at {
			continue
		}
		k, ok := kindWeights[from.loc.Kind][tr.w.fences[i].loc.Kind]
		if !ok {
			k = 0.1
		}
		ws[j] = k / (1 + distance(tr.pos, tr.w.fences[i].loc.Center)/15000) // mostly local runs
	}
	return tr.w.dests[tr.pick(ws)]
}

// pick returns an index with probability proportional to its weight.
func (tr *truck) pick(ws []float64) int {
	sum := 0.0
	for _, w := range ws {
		sum += w
	}
	x := tr.rng.Float64() * sum
	last := 0
	for i, w := range ws {
		if w > 0 {
			if last = i; x < w {
				return i
			}
			x -= w
		}
	}
	return last // rounding
}

// spot is where a truck parks in a place: deep enough inside that GPS noise
// never puts a fix outside.
func (tr *truck) spot(i int) store.Point {
	f := &tr.w.fences[i]
	for range 30 {
		var r float64
		if f.ring == nil {
			r = (f.radius - dwellMarginM) * math.Sqrt(tr.rng.Float64())
		} else {
			r = 150 * math.Sqrt(tr.rng.Float64())
		}
		a := 2 * math.Pi * tr.rng.Float64()
		if p := offset(f.loc.Center, r*math.Cos(a), r*math.Sin(a)); f.depth(p) >= dwellMarginM {
			return p
		}
	}
	return f.loc.Center // New made sure the centre is deep enough
}

// dwell appends a stay at place i: idling on arrival (sometimes long enough to
// be an idling episode), parked with the engine off, and a warm-up before
// leaving.
func (tr *truck) dwell(i int) {
	r := tr.rng
	lo, hi := 10.0, 180.0 // minutes, log-uniform
	switch tr.w.fences[i].loc.Kind {
	case store.LocationTerminal:
		lo = 20
	case store.LocationDepot:
		hi = 240
	}
	total := lo * math.Pow(hi/lo, r.Float64())
	idle := 1 + 3*r.Float64()
	if total >= 30 && r.Float64() < 0.3 {
		idle = min(total-2, 22+18*r.Float64())
	}
	warm := 1 + 2*r.Float64()
	parked := max(0, total-idle-warm)
	minutes := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)).Round(time.Second) }
	hold := func(m float64, ign bool) leg {
		return leg{kind: legHold, dur: minutes(m), ign: ign, pass: -1, jitter: -1}
	}

	tr.legs = append(tr.legs, hold(idle, true), hold(parked, false), hold(warm, true))
}

// route is the way from a to b: straight, via a waypoint, or straight
// through a small place on the way at a steady speed (a pass-through, whose
// fence index is returned, else -1).
func (tr *truck) route(a store.Point, dest int, b store.Point) (*path, int) {
	r := tr.rng
	d := distance(a, b)
	if r.Float64() < 0.35 {
		var cands []int
		for i := range tr.w.fences {
			f := &tr.w.fences[i]
			c := f.loc.Center
			zone := f.extent + passApproachM + 500
			if i == tr.at || i == dest || f.loc.Kind == store.LocationServiceArea ||
				distance(a, c) < zone || distance(c, b) < zone || distance(a, c)+distance(c, b) > 1.15*d ||
				math.Abs(math.Remainder(bearing(a, c)-bearing(c, b), 360)) > 60 { // no detours, no U-turns

				continue
			}
			if passable(f, a, b) {
				cands = append(cands, i)
			}
		}
		if len(cands) > 0 {
			i := cands[r.IntN(len(cands))]
			return newPath(a, tr.w.fences[i].loc.Center, b), i
		}
	}
	if d > 2000 && r.Float64() < 0.3 {
		n, e := delta(a, b)
		off := min(2000, d*(0.05+0.1*r.Float64())) / d
		if r.IntN(2) == 0 {
			off = -off
		}
		return newPath(a, offset(lerp(a, b, 0.3+0.4*r.Float64()), -e*off, n*off), b), -1
	}
	return newPath(a, b), -1
}

// passable reports whether the way a → f's centre → b crosses f once, for
// at most passMaxChordM.
func passable(f *fence, a, b store.Point) bool {
	c := f.loc.Center
	l := f.extent + 50
	runs, inside, was := 0, 0.0, false
	for s := -l; s <= l; s += 5 {
		p := towards(c, a, -s)
		if s > 0 {
			p = towards(c, b, s)
		}
		in := f.contains(p)
		if in {
			inside += 5
			if !was {
				runs++
			}
		}
		was = in
	}
	return runs == 1 && inside <= passMaxChordM
}

// planJitter sends the truck to park just outside a circle, approaching and
// leaving along the radius so that only noise ever puts it inside.
func (tr *truck) planJitter() bool {
	var cands []int
	var ws []float64
	for _, i := range tr.w.dests {
		f := &tr.w.fences[i]
		if d := distance(tr.pos, f.loc.Center); f.ring == nil && i != tr.at && d >= 2000 {
			cands, ws = append(cands, i), append(ws, 1/(1+d/5000))
		}
	}
	if len(cands) == 0 {
		return false // try again from the next place
	}
	tr.jitterPending = false
	i := cands[tr.pick(ws)]
	f := &tr.w.fences[i]
	spot := towards(f.loc.Center, tr.pos, f.radius+jitterOutM)
	way := towards(f.loc.Center, tr.pos, f.radius+400)
	tr.legs = append(tr.legs,
		leg{kind: legDrive, route: newPath(tr.pos, way, spot), pass: -1, jitter: -1},
		leg{kind: legHold, dur: time.Duration(35+tr.rng.IntN(16)) * time.Minute, pass: -1, jitter: i},
		leg{kind: legDrive, route: newPath(spot, way), pass: -1, jitter: -1})
	tr.at = i
	return true
}
