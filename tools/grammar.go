package tools

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/watchtower-fleet/watchtower/fault"
)

// Command is text the deterministic grammar placed: a tool and its
// arguments, or a request for help.
type Command struct {
	Tool string
	Args any
	Help bool
	// Sync asks for the Google Sheets sync now (admins only).
	Sync bool
	// Report asks for the operations report of ReportDay ("yesterday"
	// unless given).
	Report    bool
	ReportDay string
}

// ErrNoCommand is text the grammar cannot place.
var ErrNoCommand = errors.New("no command recognised")

// plateRE looks like a Nigerian plate as people type it (T11985LA,
// t-11985-la, KJA 123 XY), or the bare digits.
var plateRE = regexp.MustCompile(`(?i)^[a-z]{1,3}[\s-]?\d{2,5}[\s-]?[a-z]{0,3}$|^\d{3,5}$`)

// Natural phrasings, tried in order after the terse commands.
var phrases = []struct {
	re    *regexp.Regexp
	build func(m []string) (Command, error)
}{
	{regexp.MustCompile(`(?i)^(?:create|new|book|make|schedule)\s+(?:a\s+)?trip\s+for\s+(.+?)\s+from\s+(.+?)\s+to\s+(.+?)\s+((?:today|tomorrow|tmrw|on|at|in|now|mon|tue|wed|thu|fri|sat|sun|\d{4}-\d{2}-\d{2}|\d{1,2}(?::\d{2})?\s*(?:am|pm)).*)$`),
		func(m []string) (Command, error) {
			when := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(m[4], "on "), "at "))
			return Command{Tool: "create_trip", Args: CreateTripArgs{Truck: m[1], Pickup: m[2], Delivery: m[3], ScheduledDeparture: when}}, nil
		}},
	{regexp.MustCompile(`(?i)^(?:where(?:'s| is| are)?|locate|find|location of|position of)\s+(?:truck\s+)?(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "truck_location", Args: TruckArgs{Truck: m[1]}}, nil
		}},
	{regexp.MustCompile(`(?i)^(?:which|what|any)?\s*trucks?\s+(?:are|is)?\s*(?:at|in|inside)\s+(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "trucks_at", Args: PlaceArgs{Place: m[1]}}, nil
		}},
	{regexp.MustCompile(`(?i)^(?:who(?:'s| is)?|what(?:'s| is)?)\s+(?:at|in)\s+(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "trucks_at", Args: PlaceArgs{Place: m[1]}}, nil
		}},
	{regexp.MustCompile(`(?i)^(?:which|what|any)?\s*trucks?\s+(?:are\s+|is\s+)?(?:near|around|close to)\s+(.+?)(?:\s+within\s+(\d+(?:\.\d+)?)\s*km)?$`),
		func(m []string) (Command, error) { return nearCommand(m[1], m[2]) }},
	{regexp.MustCompile(`(?i)^who(?:'s| is)?\s+(?:driving|drives|the driver of|driver of)\s+(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "driver_for", Args: DriverForArgs{Truck: &m[1]}}, nil
		}},
	{regexp.MustCompile(`(?i)^(?:any\s+|show\s+|list\s+)?(?:delays|delayed trips|late trips)(?:\s+today)?$`),
		func(m []string) (Command, error) { return Command{Tool: "list_delays", Args: NoArgs{}}, nil }},
	{regexp.MustCompile(`(?i)^(?:fleet\s+)?(?:status|overview|summary of the fleet)$`),
		func(m []string) (Command, error) { return Command{Tool: "fleet_status", Args: FleetStatusArgs{}}, nil }},
	{regexp.MustCompile(`(?i)^(yesterday|today)(?:'s)?\s+(?:summary|metrics|numbers|kpis?)$`),
		func(m []string) (Command, error) {
			d := strings.ToLower(m[1])
			return Command{Tool: "fleet_metrics", Args: PeriodArgs{From: &d}}, nil
		}},
	{regexp.MustCompile(`(?i)^(?:any\s+|show\s+|list\s+)?alerts(?:\s+(?:for|on)\s+(.+?))?(?:\s+today)?$`),
		func(m []string) (Command, error) {
			var a AlertsArgs
			if m[1] != "" {
				a.Truck = &m[1]
			}
			return Command{Tool: "alerts", Args: a}, nil
		}},
}

// Parse places text in the /fleet grammar: the terse commands of help, a
// bare plate, and a few natural phrasings ("where is T11985LA?", "which
// trucks are at ESSLIBRA?", "create a trip for … from … to … tomorrow
// 6am"). It never calls a model.
func (r *Registry) Parse(text string) (Command, error) {
	text = cleanText(text)
	if text == "" {
		return Command{Help: true}, nil
	}
	words := splitArgs(text)
	verb := strings.ToLower(words[0])
	args := words[1:]
	rest := strings.Join(args, " ")
	switch verb {
	case "help", "?", "commands":
		return Command{Help: true}, nil
	case "where", "loc", "locate", "location", "pos", "position", "find":
		if len(args) > 0 && !strings.EqualFold(args[0], "is") {
			return need(args, 1, "where <truck>", Command{Tool: "truck_location", Args: TruckArgs{Truck: rest}})
		}
	case "at":
		return need(args, 1, "at <place>", Command{Tool: "trucks_at", Args: PlaceArgs{Place: rest}})
	case "near":
		if len(args) == 0 {
			return Command{}, usageErr("near <place|lat,lng> [km]")
		}
		radius := ""
		if n := len(args); n > 1 {
			if _, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(args[n-1]), "km"), 64); err == nil {
				radius = strings.TrimSuffix(strings.ToLower(args[n-1]), "km")
				args = args[:n-1]
			}
		}
		return nearCommand(strings.Join(args, " "), radius)
	case "status":
		var a FleetStatusArgs
		if rest != "" {
			w := strings.ReplaceAll(strings.ToLower(rest), " ", "_")
			a.Where = &w
		}
		return Command{Tool: "fleet_status", Args: a}, nil
	case "trips":
		var a ListTripsArgs
		for _, w := range args {
			lw := strings.ToLower(w)
			switch {
			case contains(tripStatuses, lw):
				a.Status = &lw
			case plateRE.MatchString(w):
				a.Truck = &w
			default:
				a.Day = &lw
			}
		}
		return Command{Tool: "list_trips", Args: a}, nil
	case "trip":
		if len(args) == 1 && plateRE.MatchString(args[0]) && !strings.Contains(args[0], "/") {
			return Command{Tool: "trip_status", Args: TripArgs{Truck: &args[0]}}, nil
		}
		return need(args, 1, "trip <id|truck>", Command{Tool: "trip_status", Args: TripArgs{Trip: &rest}})
	case "delays":
		return Command{Tool: "list_delays", Args: NoArgs{}}, nil
	case "alerts":
		var a AlertsArgs
		if rest != "" {
			a.Truck = &rest
		}
		return Command{Tool: "alerts", Args: a}, nil
	case "driver":
		if len(args) == 1 && plateRE.MatchString(args[0]) {
			return Command{Tool: "driver_for", Args: DriverForArgs{Truck: &args[0]}}, nil
		}
		return need(args, 1, "driver <truck|name>", Command{Tool: "driver_for", Args: DriverForArgs{Driver: &rest}})
	case "history":
		if len(args) == 0 {
			return Command{}, usageErr("history <truck> [day]")
		}
		a := TruckHistoryArgs{Truck: args[0]}
		if len(args) > 1 {
			d := strings.Join(args[1:], " ")
			a.From = &d
		}
		return Command{Tool: "truck_history", Args: a}, nil
	case "sync":
		return Command{Sync: true}, nil
	case "report":
		// The operations report; yesterday's unless a day is given.
		day := "yesterday"
		if len(args) > 0 {
			day = rest
		}
		return Command{Report: true, ReportDay: day}, nil
	case "metrics", "kpis", "summary":
		var a PeriodArgs
		if len(args) > 0 {
			a.From = &args[0]
		}
		if len(args) > 1 {
			a.To = &args[1]
		}
		return Command{Tool: "fleet_metrics", Args: a}, nil
	case "new-trip", "newtrip", "create-trip":
		if len(args) < 4 {
			return Command{}, usageErr(`new-trip <truck> <pickup> <delivery> <when>  (quote names with spaces: new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am)`)
		}
		return Command{Tool: "create_trip", Args: CreateTripArgs{Truck: args[0], Pickup: args[1], Delivery: args[2],
			ScheduledDeparture: strings.Join(args[3:], " ")}}, nil
	case "set-trip", "trip-status":
		if len(args) < 2 {
			return Command{}, usageErr("set-trip <id> <status> [reason]")
		}
		a := UpdateTripStatusArgs{Trip: args[0], Status: strings.ToLower(args[1])}
		if len(args) > 2 {
			reason := strings.Join(args[2:], " ")
			a.Reason = &reason
		}
		return Command{Tool: "update_trip_status", Args: a}, nil
	case "cancel-trip":
		if len(args) < 2 {
			return Command{}, usageErr("cancel-trip <id> <reason>")
		}
		return Command{Tool: "cancel_trip", Args: CancelTripArgs{Trip: args[0], Reason: strings.Join(args[1:], " ")}}, nil
	}
	for _, p := range phrases {
		if m := p.re.FindStringSubmatch(text); m != nil {
			for i := range m {
				m[i] = strings.TrimSpace(m[i])
			}
			return p.build(m)
		}
	}
	if len(words) <= 3 && plateRE.MatchString(text) {
		return Command{Tool: "truck_location", Args: TruckArgs{Truck: text}}, nil
	}
	return Command{}, ErrNoCommand
}

// examples are the commands Suggest offers, by verb.
var examples = []struct{ verb, example string }{
	{"where", "where T11985LA"}, {"at", "at ESSLIBRA"}, {"near", "near esslibra 5 km"}, {"status", "status"},
	{"trips", "trips ongoing"}, {"trip", "trip T11985LA"}, {"delays", "delays"}, {"alerts", "alerts T11985LA"},
	{"driver", "driver T11985LA"}, {"history", "history T11985LA yesterday"}, {"report", "report yesterday"},
	{"metrics", "metrics today"}, {"new-trip", `new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`},
	{"set-trip", "set-trip 05/Dec/2026-T11985LA-ES01 completed"}, {"cancel-trip", "cancel-trip 05/Dec/2026-T11985LA-ES01 client cancelled"},
	{"sync", "sync"}, {"help", "help"},
}

// Suggest answers text the grammar could not place: the closest command
// with an example, never a bare "unknown command".
func Suggest(text string) string {
	words := splitArgs(cleanText(text))
	if len(words) == 0 || words[0] == "" {
		return "Try `/fleet help` for the list of commands."
	}
	verb := strings.ToLower(words[0])
	best, dist := "", 1<<30
	var example string
	for _, e := range examples {
		if d := editDistance(verb, e.verb); d < dist {
			best, dist, example = e.verb, d, e.example
		}
	}
	if dist <= max(1, len(verb)/3) {
		return fmt.Sprintf("I don't know %q. Did you mean `%s`? For example: `/fleet %s`", words[0], best, example)
	}
	return fmt.Sprintf("I could not place %q. For example: `/fleet where T11985LA`, `/fleet at ESSLIBRA` or `/fleet delays`; `/fleet help` lists them all.", clip(text, 60))
}

// editDistance is the Levenshtein distance of two short words.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func nearCommand(where, radius string) (Command, error) {
	var a TrucksNearArgs
	if lat, lng, ok := parseLatLng(where); ok {
		a.Lat, a.Lng = &lat, &lng
	} else {
		a.Place = &where
	}
	if radius != "" {
		km, err := strconv.ParseFloat(radius, 64)
		if err != nil {
			return Command{}, usageErr("near <place|lat,lng> [km]")
		}
		a.RadiusKm = &km
	}
	return Command{Tool: "trucks_near", Args: a}, nil
}

// parseLatLng reads "6.45,3.39" or "6.45 3.39".
func parseLatLng(s string) (float64, float64, bool) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) != 2 {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(f[0], 64)
	lng, err2 := strconv.ParseFloat(f[1], 64)
	return lat, lng, err1 == nil && err2 == nil
}

func need(args []string, n int, usage string, c Command) (Command, error) {
	if len(args) < n {
		return Command{}, usageErr(usage)
	}
	return c, nil
}

// UsageError is a command typed with the wrong arguments.
type UsageError struct{ Usage string }

func (e *UsageError) Error() string { return "usage: " + e.Usage }

// ErrorCode is fault's invalid.
func (e *UsageError) ErrorCode() string { return string(fault.Invalid) }

// ErrorMessage is the error itself, the usage.
func (e *UsageError) ErrorMessage() string { return e.Error() }

func usageErr(u string) error { return &UsageError{Usage: u} }

// cleanText drops a leading mention, "please", surrounding space and
// trailing punctuation.
func cleanText(s string) string {
	s = strings.TrimSpace(s)
	for {
		lower := strings.ToLower(s)
		switch {
		case strings.HasPrefix(s, "<@"):
			if i := strings.IndexByte(s, '>'); i > 0 {
				s = strings.TrimSpace(s[i+1:])
				continue
			}
		case strings.HasPrefix(lower, "@watchtower"):
			s = strings.TrimSpace(s[len("@watchtower"):])
			continue
		case strings.HasPrefix(lower, "/fleet "):
			s = strings.TrimSpace(s[len("/fleet "):])
			continue
		case strings.HasPrefix(lower, "please "):
			s = strings.TrimSpace(s[len("please "):])
			continue
		}
		break
	}
	s = strings.TrimRight(s, "?!. ")
	s = strings.TrimSuffix(strings.TrimSuffix(s, " now"), " right")
	return strings.TrimSpace(s)
}

// splitArgs splits on spaces, keeping "quoted phrases" (straight or curly
// quotes, as phones type them) together.
func splitArgs(s string) []string {
	var out []string
	var b strings.Builder
	inQuote := false
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '"' || r == '“' || r == '”':
			if inQuote {
				flush()
			}
			inQuote = !inQuote
		case (r == ' ' || r == '\t' || r == '\n') && !inQuote:
			flush()
		default:
			b.WriteRune(r)
		}
	}
	flush()
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// Help lists the commands a role may use, generated from the registry so it
// is never stale.
func (r *Registry) Help(role string) string {
	var b strings.Builder
	b.WriteString("Commands:\n")
	for _, t := range r.tools {
		if t.Usage == "" {
			continue
		}
		note := ""
		if t.Write {
			note = " (asks for Confirm)"
		}
		if !Allows(role, t.Role) && !t.Write {
			continue
		}
		fmt.Fprintf(&b, "• %s: %s%s\n", t.Usage, firstSentence(t.Description), note)
	}
	b.WriteString("• report [day]: the day's operations numbers (yesterday unless a day is given)\n")
	if role == RoleAdmin {
		b.WriteString("• sync: read the Google Sheet's master data now (admins)\n")
	}
	b.WriteString("• help: this list")
	return b.String()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ": "); i > 0 && i < 60 {
		return strings.ToLower(s[:1]) + s[1:i]
	}
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i]
	}
	return strings.ToLower(s[:1]) + strings.TrimSuffix(s[1:], ".")
}
