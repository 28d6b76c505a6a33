package tools

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// mapURL is a map link for a point: a Google Maps search URL, which opens
// the app on a phone.
func mapURL(p store.Point) string {
	return "https://www.google.com/maps/search/?api=1&query=" +
		strconv.FormatFloat(p.Lat, 'f', 6, 64) + "%2C" + strconv.FormatFloat(p.Lon, 'f', 6, 64)
}

// ago says how long before now t was, in the largest sensible unit.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// duration says a span as "1h 20m" or "35 min".
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	if d < 72*time.Hour {
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

// clockTime shows t in zone as "Fri 4 Dec 09:15", or "09:15" when it is
// today.
func clockTime(t, now time.Time, zone *time.Location) string {
	t, now = t.In(zone), now.In(zone)
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04")
	}
	return t.Format("Mon 2 Jan 15:04")
}

// km shows metres as km with one decimal, or metres under 1 km.
func km(m float64) string {
	if m < 1000 {
		return fmt.Sprintf("%.0f m", m)
	}
	return fmt.Sprintf("%.1f km", m/1000)
}

// round rounds to n decimals, for compact JSON.
func round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// rfc formats t for the model: RFC 3339 in the fleet's zone.
func rfc(t time.Time, zone *time.Location) string { return t.In(zone).Format(time.RFC3339) }

func rfcPtr(t *time.Time, zone *time.Location) *string {
	if t == nil {
		return nil
	}
	s := rfc(*t, zone)
	return &s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
