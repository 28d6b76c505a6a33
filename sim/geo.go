package sim

import (
	"math"

	"github.com/watchtower-fleet/watchtower/store"
)

// WGS84: circle geofences are measured on the ellipsoid, as PostGIS
// geography does; a sphere would be up to 0.5 % off, 1.5 m at 300 m.
const (
	wgsA  = 6378137.0
	wgsF  = 1 / 298.257223563
	wgsE2 = wgsF * (2 - wgsF)
)

// metresPerDegree gives the local scale at a latitude: metres per degree of
// latitude (meridian radius) and of longitude (prime vertical radius).
func metresPerDegree(lat float64) (mLat, mLon float64) {
	s := math.Sin(lat * math.Pi / 180)
	w := 1 - wgsE2*s*s
	n := wgsA / math.Sqrt(w)
	m := wgsA * (1 - wgsE2) / (w * math.Sqrt(w))
	return m * math.Pi / 180, n * math.Cos(lat*math.Pi/180) * math.Pi / 180
}

// delta is b - a in metres (north, east), scaled at the mean latitude: within
// millimetres of the geodesic at geofence sizes, within metres over 60 km.
func delta(a, b store.Point) (north, east float64) {
	mLat, mLon := metresPerDegree((a.Lat + b.Lat) / 2)
	return (b.Lat - a.Lat) * mLat, (b.Lon - a.Lon) * mLon
}

func distance(a, b store.Point) float64 {
	n, e := delta(a, b)
	return math.Hypot(n, e)
}

// bearing is the direction of travel from a to b, degrees clockwise from north.
func bearing(a, b store.Point) float64 {
	n, e := delta(a, b)
	d := math.Atan2(e, n) * 180 / math.Pi
	if d < 0 {
		d += 360
	}
	return d
}

func offset(p store.Point, north, east float64) store.Point {
	mLat, mLon := metresPerDegree(p.Lat)
	return store.Point{Lat: p.Lat + north/mLat, Lon: p.Lon + east/mLon}
}

// towards is the point dist metres from p in the direction of q.
func towards(p, q store.Point, dist float64) store.Point {
	n, e := delta(p, q)
	h := math.Hypot(n, e)
	if h == 0 {
		return p
	}
	return offset(p, n/h*dist, e/h*dist)
}

func lerp(a, b store.Point, f float64) store.Point {
	return store.Point{Lat: a.Lat + (b.Lat-a.Lat)*f, Lon: a.Lon + (b.Lon-a.Lon)*f}
}

// round6 keeps six decimals, as LocoNav sends: the truth is decided on
// exactly the coordinates the service will parse.
func round6(p store.Point) store.Point {
	return store.Point{Lat: math.Round(p.Lat*1e6) / 1e6, Lon: math.Round(p.Lon*1e6) / 1e6}
}

// fence is a place's geofence in a form cheap to test.
type fence struct {
	loc    store.Location
	radius float64       // circles
	ring   []store.Point // polygons
	extent float64       // farthest the boundary gets from the centre, metres
}

func newFence(l store.Location) fence {
	f := fence{loc: l, radius: float64(l.RadiusM), ring: l.Boundary}
	f.extent = f.radius
	for _, p := range f.ring {
		f.extent = max(f.extent, distance(l.Center, p))
	}
	return f
}

// depth is the signed distance from p to the fence line in metres: positive
// inside, negative outside. A point on the line (depth 0) is covered, as with
// ST_Covers.
func (f *fence) depth(p store.Point) float64 {
	if f.ring == nil {
		return f.radius - distance(f.loc.Center, p)
	}
	d := math.Inf(1)
	in := false
	for i, a := range f.ring {
		b := f.ring[(i+1)%len(f.ring)]
		// Ray casting on lat/lon: edges are short enough to be straight.
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) &&
			p.Lon < a.Lon+(p.Lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat) {
			in = !in
		}
		d = min(d, segmentDistance(p, a, b))
	}
	if !in {
		d = -d
	}
	return d
}

func (f *fence) contains(p store.Point) bool { return f.depth(p) >= 0 }

// near is a cheap bound: p is within margin metres of the fence or inside it.
func (f *fence) near(p store.Point, margin float64) bool {
	return distance(f.loc.Center, p) <= f.extent+margin
}

// segmentDistance is the distance in metres from p to the segment ab, in a
// plane tangent at p.
func segmentDistance(p, a, b store.Point) float64 {
	an, ae := delta(p, a)
	bn, be := delta(p, b)
	dn, de := bn-an, be-ae
	t := 0.0
	if l2 := dn*dn + de*de; l2 > 0 {
		t = math.Max(0, math.Min(1, -(an*dn+ae*de)/l2))
	}
	return math.Hypot(an+t*dn, ae+t*de)
}

// path is a polyline the truck follows at road or yard speed.
type path struct {
	pts  []store.Point
	cum  []float64 // distance from the start to each point
	done float64   // metres travelled
}

func newPath(pts ...store.Point) *path {
	p := &path{pts: pts, cum: make([]float64, len(pts))}
	for i := 1; i < len(pts); i++ {
		p.cum[i] = p.cum[i-1] + distance(pts[i-1], pts[i])
	}
	return p
}

func (p *path) length() float64    { return p.cum[len(p.cum)-1] }
func (p *path) remaining() float64 { return p.length() - p.done }

// at is the position and direction of travel after d metres.
func (p *path) at(d float64) (store.Point, float64) {
	for i := 1; i < len(p.pts); i++ {
		if d <= p.cum[i] || i == len(p.pts)-1 {
			seg := p.cum[i] - p.cum[i-1]
			if seg == 0 {
				continue
			}
			f := math.Max(0, math.Min(1, (d-p.cum[i-1])/seg))
			return lerp(p.pts[i-1], p.pts[i], f), bearing(p.pts[i-1], p.pts[i])
		}
	}
	return p.pts[len(p.pts)-1], math.NaN()
}
