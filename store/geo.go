package store

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Point is a WGS84 position in decimal degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Validate reports whether p is a real place on Earth. (0,0) is refused: it is
// what broken trackers send, and no truck of ours is in the Gulf of Guinea.
func (p Point) Validate() error {
	switch {
	case math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || math.IsInf(p.Lat, 0) || math.IsInf(p.Lon, 0):
		return invalidf("coordinates are not numbers")
	case p.Lat < -90 || p.Lat > 90:
		return invalidf("latitude %v is outside -90..90", p.Lat)
	case p.Lon < -180 || p.Lon > 180:
		return invalidf("longitude %v is outside -180..180", p.Lon)
	case p.Lat == 0 && p.Lon == 0:
		return invalidf("position 0,0 is a tracker without a fix")
	}
	return nil
}

// String formats p as "lat,lon", the form map links and people use.
func (p Point) String() string {
	return strconv.FormatFloat(p.Lat, 'f', 6, 64) + "," + strconv.FormatFloat(p.Lon, 'f', 6, 64)
}

// pointSQL builds a geography point from parameters ($lat, $lon).
func pointSQL(lat, lon int) string {
	return fmt.Sprintf("ST_SetSRID(ST_MakePoint($%d::float8, $%d::float8), 4326)::geography", lon, lat)
}

// polygonEWKT renders a ring as EWKT, closing it. PostGIS wants lon lat.
func polygonEWKT(ring []Point) string {
	var b strings.Builder
	b.WriteString("SRID=4326;POLYGON((")
	for i, p := range ring {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(p.Lon, 'f', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(p.Lat, 'f', -1, 64))
	}
	if len(ring) > 0 && ring[0] != ring[len(ring)-1] {
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(ring[0].Lon, 'f', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(ring[0].Lat, 'f', -1, 64))
	}
	b.WriteString("))")
	return b.String()
}
