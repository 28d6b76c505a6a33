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

// command is one row of the /fleet grammar: the verbs that call it (the
// first is its name, the rest aliases), the line help shows, the examples
// Suggest offers, and the parser that turns the words after the verb into
// a Command. Parse, Help and Suggest all read this one table, so a command
// is added, renamed or explained in one place.
type command struct {
	verbs []string
	// usage is the form help shows; wrong, where set, is the fuller form a
	// command typed with the wrong arguments is answered with.
	usage, wrong string
	// tool is the tool the command calls: help takes its explanation, its
	// role and the Confirm note from the tool. A command that calls no
	// tool explains itself in about.
	tool, about string
	// adminOnly keeps a tool-less command out of everyone else's help.
	adminOnly bool
	// examples parse to this command (a test holds them to it); the first
	// is the one Suggest offers.
	examples []string
	// parse reads the words after the verb. It answers errArgs for words
	// that do not fit (the caller gets the usage), and errPhrasing to let
	// the natural phrasings try the whole text instead.
	parse func(args []string) (Command, error)
}

var (
	errArgs     = errors.New("wrong arguments")
	errPhrasing = errors.New("not this command's form")
)

// usageError is the answer to this command typed with the wrong arguments.
func (c *command) usageError() error {
	if c.wrong != "" {
		return usageErr(c.wrong)
	}
	return usageErr(c.usage)
}

// commands is the /fleet grammar. Its order is the order Suggest tries
// verbs in (the first of equally close verbs wins); help lists the tools'
// commands in the registry's order, then the others in this order.
var commands = []*command{
	{verbs: []string{"where", "loc", "locate", "location", "pos", "position", "find"}, usage: "where <truck>",
		tool: "truck_location", examples: []string{"where T11985LA"},
		parse: func(args []string) (Command, error) {
			// "where is …" is a phrasing, and so is a bare "where".
			if len(args) == 0 || strings.EqualFold(args[0], "is") {
				return Command{}, errPhrasing
			}
			return Command{Tool: "truck_location", Args: TruckArgs{Truck: strings.Join(args, " ")}}, nil
		}},
	{verbs: []string{"at"}, usage: "at <place>", tool: "trucks_at", examples: []string{"at ESSLIBRA"},
		parse: func(args []string) (Command, error) {
			if len(args) == 0 {
				return Command{}, errArgs
			}
			return Command{Tool: "trucks_at", Args: PlaceArgs{Place: strings.Join(args, " ")}}, nil
		}},
	{verbs: []string{"near"}, usage: "near <place|lat,lng> [km]", tool: "trucks_near", examples: []string{"near esslibra 5 km"},
		parse: func(args []string) (Command, error) {
			if len(args) == 0 {
				return Command{}, errArgs
			}
			radius := ""
			if n := len(args); n > 1 {
				if _, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(args[n-1]), "km"), 64); err == nil {
					radius = strings.TrimSuffix(strings.ToLower(args[n-1]), "km")
					args = args[:n-1]
				}
			}
			return nearCommand(strings.Join(args, " "), radius)
		}},
	{verbs: []string{"status"}, usage: "status [offline|en_route|at_terminal|…]", tool: "fleet_status", examples: []string{"status"},
		parse: func(args []string) (Command, error) {
			var a FleetStatusArgs
			if rest := strings.Join(args, " "); rest != "" {
				w := strings.ReplaceAll(strings.ToLower(rest), " ", "_")
				a.Where = &w
			}
			return Command{Tool: "fleet_status", Args: a}, nil
		}},
	{verbs: []string{"trips"}, usage: "trips [status] [day]", tool: "list_trips", examples: []string{"trips ongoing"},
		parse: func(args []string) (Command, error) {
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
		}},
	{verbs: []string{"trip"}, usage: "trip <id|truck>", tool: "trip_status", examples: []string{"trip T11985LA"},
		parse: func(args []string) (Command, error) {
			if len(args) == 1 && plateRE.MatchString(args[0]) && !strings.Contains(args[0], "/") {
				return Command{Tool: "trip_status", Args: TripArgs{Truck: &args[0]}}, nil
			}
			if len(args) == 0 {
				return Command{}, errArgs
			}
			rest := strings.Join(args, " ")
			return Command{Tool: "trip_status", Args: TripArgs{Trip: &rest}}, nil
		}},
	{verbs: []string{"delays"}, usage: "delays", tool: "list_delays", examples: []string{"delays"},
		parse: func([]string) (Command, error) { return Command{Tool: "list_delays", Args: NoArgs{}}, nil }},
	{verbs: []string{"alerts"}, usage: "alerts [truck]", tool: "alerts", examples: []string{"alerts T11985LA"},
		parse: func(args []string) (Command, error) {
			var a AlertsArgs
			if rest := strings.Join(args, " "); rest != "" {
				a.Truck = &rest
			}
			return Command{Tool: "alerts", Args: a}, nil
		}},
	{verbs: []string{"driver"}, usage: "driver <truck|name>", tool: "driver_for", examples: []string{"driver T11985LA"},
		parse: func(args []string) (Command, error) {
			if len(args) == 1 && plateRE.MatchString(args[0]) {
				return Command{Tool: "driver_for", Args: DriverForArgs{Truck: &args[0]}}, nil
			}
			if len(args) == 0 {
				return Command{}, errArgs
			}
			rest := strings.Join(args, " ")
			return Command{Tool: "driver_for", Args: DriverForArgs{Driver: &rest}}, nil
		}},
	{verbs: []string{"history"}, usage: "history <truck> [day]", tool: "truck_history", examples: []string{"history T11985LA yesterday"},
		parse: func(args []string) (Command, error) {
			if len(args) == 0 {
				return Command{}, errArgs
			}
			a := TruckHistoryArgs{Truck: args[0]}
			if len(args) > 1 {
				d := strings.Join(args[1:], " ")
				a.From = &d
			}
			return Command{Tool: "truck_history", Args: a}, nil
		}},
	{verbs: []string{"report"}, usage: "report [day]", about: "the day's operations numbers (yesterday unless a day is given)",
		examples: []string{"report yesterday"},
		parse: func(args []string) (Command, error) {
			day := "yesterday"
			if len(args) > 0 {
				day = strings.Join(args, " ")
			}
			return Command{Report: true, ReportDay: day}, nil
		}},
	{verbs: []string{"metrics", "kpis", "summary"}, usage: "metrics [day]", tool: "fleet_metrics", examples: []string{"metrics today"},
		parse: func(args []string) (Command, error) {
			var a PeriodArgs
			if len(args) > 0 {
				a.From = &args[0]
			}
			if len(args) > 1 {
				a.To = &args[1]
			}
			return Command{Tool: "fleet_metrics", Args: a}, nil
		}},
	{verbs: []string{"new-trip", "newtrip", "create-trip"}, usage: "new-trip <truck> <pickup> <delivery> <when>",
		wrong: `new-trip <truck> <pickup> <delivery> <when>  (quote names with spaces: new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am)`,
		tool:  "create_trip", examples: []string{`new-trip T11985LA ESSLIBRA "Dangote Ibese" tomorrow 6am`},
		parse: func(args []string) (Command, error) {
			if len(args) < 4 {
				return Command{}, errArgs
			}
			return Command{Tool: "create_trip", Args: CreateTripArgs{Truck: args[0], Pickup: args[1], Delivery: args[2],
				ScheduledDeparture: strings.Join(args[3:], " ")}}, nil
		}},
	{verbs: []string{"set-trip", "trip-status"}, usage: "set-trip <id> <status>", wrong: "set-trip <id> <status> [reason]",
		tool: "update_trip_status", examples: []string{"set-trip 05/Dec/2026-T11985LA-ES01 completed"},
		parse: func(args []string) (Command, error) {
			if len(args) < 2 {
				return Command{}, errArgs
			}
			a := UpdateTripStatusArgs{Trip: args[0], Status: strings.ToLower(args[1])}
			if len(args) > 2 {
				reason := strings.Join(args[2:], " ")
				a.Reason = &reason
			}
			return Command{Tool: "update_trip_status", Args: a}, nil
		}},
	{verbs: []string{"cancel-trip"}, usage: "cancel-trip <id> <reason>", tool: "cancel_trip",
		examples: []string{"cancel-trip 05/Dec/2026-T11985LA-ES01 client cancelled"},
		parse: func(args []string) (Command, error) {
			if len(args) < 2 {
				return Command{}, errArgs
			}
			return Command{Tool: "cancel_trip", Args: CancelTripArgs{Trip: args[0], Reason: strings.Join(args[1:], " ")}}, nil
		}},
	{verbs: []string{"sync"}, usage: "sync", about: "read the Google Sheet's master data now (admins)", adminOnly: true,
		examples: []string{"sync"},
		parse:    func([]string) (Command, error) { return Command{Sync: true}, nil }},
	{verbs: []string{"help", "?", "commands"}, usage: "help", about: "this list", examples: []string{"help"},
		parse: func([]string) (Command, error) { return Command{Help: true}, nil }},
}

// byVerb finds a command by any of its verbs; byTool by the tool it calls.
var byVerb, byTool = func() (map[string]*command, map[string]*command) {
	verbs, tools := map[string]*command{}, map[string]*command{}
	for _, c := range commands {
		for _, v := range c.verbs {
			verbs[v] = c
		}
		if c.tool != "" {
			tools[c.tool] = c
		}
	}
	return verbs, tools
}()

// phrases are natural phrasings of the commands (verb names the command
// whose usage answers wrong arguments), tried in order after the verbs.
var phrases = []struct {
	verb  string
	re    *regexp.Regexp
	build func(m []string) (Command, error)
}{
	{"new-trip", regexp.MustCompile(`(?i)^(?:create|new|book|make|schedule)\s+(?:a\s+)?trip\s+for\s+(.+?)\s+from\s+(.+?)\s+to\s+(.+?)\s+((?:today|tomorrow|tmrw|on|at|in|now|mon|tue|wed|thu|fri|sat|sun|\d{4}-\d{2}-\d{2}|\d{1,2}(?::\d{2})?\s*(?:am|pm)).*)$`),
		func(m []string) (Command, error) {
			when := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(m[4], "on "), "at "))
			return Command{Tool: "create_trip", Args: CreateTripArgs{Truck: m[1], Pickup: m[2], Delivery: m[3], ScheduledDeparture: when}}, nil
		}},
	{"where", regexp.MustCompile(`(?i)^(?:where(?:'s| is| are)?|locate|find|location of|position of)\s+(?:truck\s+)?(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "truck_location", Args: TruckArgs{Truck: m[1]}}, nil
		}},
	{"at", regexp.MustCompile(`(?i)^(?:which|what|any)?\s*trucks?\s+(?:are|is)?\s*(?:at|in|inside)\s+(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "trucks_at", Args: PlaceArgs{Place: m[1]}}, nil
		}},
	{"at", regexp.MustCompile(`(?i)^(?:who(?:'s| is)?|what(?:'s| is)?)\s+(?:at|in)\s+(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "trucks_at", Args: PlaceArgs{Place: m[1]}}, nil
		}},
	{"near", regexp.MustCompile(`(?i)^(?:which|what|any)?\s*trucks?\s+(?:are\s+|is\s+)?(?:near|around|close to)\s+(.+?)(?:\s+within\s+(\d+(?:\.\d+)?)\s*km)?$`),
		func(m []string) (Command, error) { return nearCommand(m[1], m[2]) }},
	{"driver", regexp.MustCompile(`(?i)^who(?:'s| is)?\s+(?:driving|drives|the driver of|driver of)\s+(.+)$`),
		func(m []string) (Command, error) {
			return Command{Tool: "driver_for", Args: DriverForArgs{Truck: &m[1]}}, nil
		}},
	{"delays", regexp.MustCompile(`(?i)^(?:any\s+|show\s+|list\s+)?(?:delays|delayed trips|late trips)(?:\s+today)?$`),
		func(m []string) (Command, error) { return Command{Tool: "list_delays", Args: NoArgs{}}, nil }},
	{"status", regexp.MustCompile(`(?i)^(?:fleet\s+)?(?:status|overview|summary of the fleet)$`),
		func(m []string) (Command, error) { return Command{Tool: "fleet_status", Args: FleetStatusArgs{}}, nil }},
	{"metrics", regexp.MustCompile(`(?i)^(yesterday|today)(?:'s)?\s+(?:summary|metrics|numbers|kpis?)$`),
		func(m []string) (Command, error) {
			d := strings.ToLower(m[1])
			return Command{Tool: "fleet_metrics", Args: PeriodArgs{From: &d}}, nil
		}},
	{"alerts", regexp.MustCompile(`(?i)^(?:any\s+|show\s+|list\s+)?alerts(?:\s+(?:for|on)\s+(.+?))?(?:\s+today)?$`),
		func(m []string) (Command, error) {
			var a AlertsArgs
			if m[1] != "" {
				a.Truck = &m[1]
			}
			return Command{Tool: "alerts", Args: a}, nil
		}},
}

// Parse places text in the /fleet grammar: the commands of the table, a
// bare plate, and a few natural phrasings ("where is T11985LA?", "which
// trucks are at ESSLIBRA?", "create a trip for … from … to … tomorrow
// 6am"). It never calls a model.
func Parse(text string) (Command, error) {
	text = cleanText(text)
	if text == "" {
		return Command{Help: true}, nil
	}
	words := splitArgs(text)
	if c, ok := byVerb[strings.ToLower(words[0])]; ok {
		cmd, err := c.parse(words[1:])
		switch {
		case errors.Is(err, errArgs):
			return Command{}, c.usageError()
		case !errors.Is(err, errPhrasing):
			return cmd, err
		}
	}
	for _, p := range phrases {
		if m := p.re.FindStringSubmatch(text); m != nil {
			for i := range m {
				m[i] = strings.TrimSpace(m[i])
			}
			cmd, err := p.build(m)
			if errors.Is(err, errArgs) {
				return Command{}, byVerb[p.verb].usageError()
			}
			return cmd, err
		}
	}
	if len(words) <= 3 && plateRE.MatchString(text) {
		return Command{Tool: "truck_location", Args: TruckArgs{Truck: text}}, nil
	}
	return Command{}, ErrNoCommand
}

// Suggest answers text the grammar could not place: the closest command
// with an example, never a bare "unknown command". Only commands' names
// are suggested, not their aliases.
func Suggest(text string) string {
	words := splitArgs(cleanText(text))
	if len(words) == 0 || words[0] == "" {
		return "Try `/fleet help` for the list of commands."
	}
	verb := strings.ToLower(words[0])
	var best *command
	dist := 1 << 30
	for _, c := range commands {
		if d := editDistance(verb, c.verbs[0]); d < dist {
			best, dist = c, d
		}
	}
	if dist <= max(1, len(verb)/3) {
		return fmt.Sprintf("I don't know %q. Did you mean `%s`? For example: `/fleet %s`", words[0], best.verbs[0], best.examples[0])
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
			return Command{}, errArgs
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

// Help lists the commands a role may use, generated from the command
// table and the registry so it is never stale: the tools' commands in the
// registry's order, with the tools' own explanations, then the others.
func (r *Registry) Help(role string) string {
	lines := []string{"Commands:"}
	for _, t := range r.tools {
		c, ok := byTool[t.Name]
		if !ok || (!Allows(role, t.Role) && !t.Write) {
			continue
		}
		note := ""
		if t.Write {
			note = " (asks for Confirm)"
		}
		lines = append(lines, fmt.Sprintf("• %s: %s%s", c.usage, firstSentence(t.Description), note))
	}
	for _, c := range commands {
		if c.tool != "" || (c.adminOnly && role != RoleAdmin) {
			continue
		}
		lines = append(lines, fmt.Sprintf("• %s: %s", c.usage, c.about))
	}
	return strings.Join(lines, "\n")
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
