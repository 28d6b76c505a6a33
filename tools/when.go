package tools

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// localLayouts are the date-time forms people and the model write, read in
// the fleet's zone.
var localLayouts = []string{
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
	"02/01/2006 15:04",
	"2/1/2006 15:04",
}

var (
	clockRE    = regexp.MustCompile(`^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$`)
	relativeRE = regexp.MustCompile(`^in\s+(\d{1,3})\s*(m|min|mins|minutes?|h|hr|hrs|hours?)$`)
)

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWhen reads a moment as people write it, in zone: RFC 3339,
// "2026-12-05T06:00", "2026-12-05 06:00", "tomorrow 6am", "today 14:30",
// "friday 6pm", "now", "in 2 hours". A bare clock time ("6am") is the next
// such time.
func ParseWhen(s string, now time.Time, zone *time.Location) (time.Time, error) {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	if s == "" {
		return time.Time{}, fmt.Errorf("no time given")
	}
	if t, err := time.Parse(time.RFC3339, strings.ToUpper(s)); err == nil {
		return t, nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, strings.ToUpper(s), zone); err == nil {
			return t, nil
		}
	}
	now = now.In(zone)
	if s == "now" {
		return now, nil
	}
	if m := relativeRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := time.Minute
		if strings.HasPrefix(m[2], "h") {
			unit = time.Hour
		}
		return now.Add(time.Duration(n) * unit), nil
	}
	day, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "at "))
	var base time.Time
	explicitDay := true
	switch {
	case day == "today":
		base = now
	case day == "tomorrow" || day == "tmrw" || day == "tmr":
		base = now.AddDate(0, 0, 1)
	default:
		if wd, ok := weekdays[day]; ok {
			ahead := (int(wd) - int(now.Weekday()) + 7) % 7
			if ahead == 0 {
				ahead = 7
			}
			base = now.AddDate(0, 0, ahead)
		} else if d, err := time.ParseInLocation("2006-01-02", day, zone); err == nil {
			base = d
		} else {
			base, rest, explicitDay = now, s, false
		}
	}
	if rest == "" {
		return time.Time{}, fmt.Errorf("%q has no time of day; add one, e.g. %q", s, s+" 6am")
	}
	h, m, err := clock(rest)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read %q as a time; write e.g. \"tomorrow 6am\" or \"2026-12-05 06:00\"", s)
	}
	t := time.Date(base.Year(), base.Month(), base.Day(), h, m, 0, 0, zone)
	if !explicitDay && t.Before(now) {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// clock reads "6am", "6:30 pm", "06:00", "18.15" as hours and minutes.
func clock(s string) (int, int, error) {
	switch s {
	case "noon", "midday":
		return 12, 0, nil
	case "midnight":
		return 0, 0, nil
	}
	m := clockRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("not a clock time")
	}
	h, _ := strconv.Atoi(m[1])
	mins := 0
	if m[2] != "" {
		mins, _ = strconv.Atoi(m[2])
	}
	switch strings.ReplaceAll(m[3], ".", "") {
	case "am":
		if h < 1 || h > 12 {
			return 0, 0, fmt.Errorf("bad hour")
		}
		if h == 12 {
			h = 0
		}
	case "pm":
		if h < 1 || h > 12 {
			return 0, 0, fmt.Errorf("bad hour")
		}
		if h != 12 {
			h += 12
		}
	default:
		if m[2] == "" {
			return 0, 0, fmt.Errorf("a bare number is not a time")
		}
	}
	if h > 23 || mins > 59 {
		return 0, 0, fmt.Errorf("out of range")
	}
	return h, mins, nil
}

// ParseDay reads a calendar day in zone: "today", "yesterday",
// "2026-12-03", a weekday (the last one). It returns the day's start.
func ParseDay(s string, now time.Time, zone *time.Location) (time.Time, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	now = now.In(zone)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, zone)
	switch s {
	case "", "today":
		return today, nil
	case "yesterday":
		return today.AddDate(0, 0, -1), nil
	case "tomorrow":
		return today.AddDate(0, 0, 1), nil
	}
	if wd, ok := weekdays[s]; ok {
		back := (int(now.Weekday()) - int(wd) + 7) % 7
		if back == 0 {
			back = 7
		}
		return today.AddDate(0, 0, -back), nil
	}
	if d, err := time.ParseInLocation("2006-01-02", s, zone); err == nil {
		return d, nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a day; write YYYY-MM-DD, today or yesterday", s)
}
