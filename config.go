package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is Watch Tower's configuration, read from the environment. The names
// are a contract with deployment tooling outside this repository: keep them.
type Config struct {
	DatabaseURL string
	RedisURL    string
	HTTPAddr    string

	SlackBotToken      string
	SlackAppToken      string
	SlackAPIURL        string
	SlackAlertChannel  string
	SlackReportChannel string

	OpenAIAPIKey  string
	OpenAIBaseURL string
	OpenAIModel   string

	LocoNavWebhookToken      string
	LocoNavWebhookHMACSecret string
	LocoNavAllowedCIDRs      []netip.Prefix
	LocoNavAPIURL            string
	LocoNavAPIToken          string
	LocoNavTimezone          *time.Location

	SheetsSpreadsheetID          string
	GoogleApplicationCredentials string
	SheetsAPIURL                 string
	SheetsTabs                   [5]string // organizations, locations, trucks, drivers, users
	SheetsSyncCron               string
	ReportCron                   string
	ReportWeeklyCron             string
	ReportOnTime                 time.Duration

	ReportTimezone *time.Location
	Admins         []string // Slack user ids with the admin role whatever the users table says

	LogLevel  slog.Level
	LogFormat string // auto, text or json

	PositionRetentionDays int

	OverspeedKmh        float64
	IdleAfter           time.Duration
	OfflineAfter        time.Duration
	Dwell               time.Duration
	TripDelayAfter      time.Duration
	LocoNavPollInterval time.Duration
	StreamMaxLen        int64
	APIRateLimit        int    // per key per minute
	OTLPEndpoint        string // traces are exported only when set
}

// option is one row of the configuration table.
type option struct {
	Name    string
	Default string
	Secret  bool
	Doc     string
	set     func(c *Config, v string) error
}

var (
	slackChannelRE = regexp.MustCompile(`^([CGD][A-Z0-9]{4,}|#[a-z0-9][a-z0-9_-]{0,79})$`)
	slackUserRE    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
)

// options is the configuration table: every setting, its default, whether
// it is secret, and what it means. `watchtower config` prints it.
var options = []option{
	{Name: "DATABASE_URL", Default: "postgres://postgres@127.0.0.1:5432/watchtower?sslmode=disable", Secret: true,
		Doc: "PostgreSQL (with PostGIS) connection URL",
		set: func(c *Config, v string) error { c.DatabaseURL = v; return checkURL(v, "postgres", "postgresql") }},
	{Name: "REDIS_URL", Default: "redis://127.0.0.1:6379/0", Secret: true,
		Doc: "Redis 7 connection URL (streams, locks)",
		set: func(c *Config, v string) error { c.RedisURL = v; return checkURL(v, "redis", "rediss", "unix") }},
	{Name: "HTTP_ADDR", Default: ":8080",
		Doc: "listen address for webhooks, the API (/api/v1), /healthz, /readyz and /metrics",
		set: func(c *Config, v string) error {
			c.HTTPAddr = v
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				return errors.New("must be host:port, e.g. :8080 or 127.0.0.1:8080")
			}
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("port %q is not 0-65535", port)
			}
			return nil
		}},
	{Name: "SLACK_BOT_TOKEN", Secret: true, Doc: "Slack bot token (xoxb-…); empty runs without Slack",
		set: func(c *Config, v string) error { c.SlackBotToken = v; return checkPrefix(v, "xoxb-", "a bot token") }},
	{Name: "SLACK_APP_TOKEN", Secret: true, Doc: "Slack app-level token for Socket Mode (xapp-…)",
		set: func(c *Config, v string) error {
			c.SlackAppToken = v
			return checkPrefix(v, "xapp-", "an app-level token")
		}},
	{Name: "SLACK_API_URL", Default: "https://slack.com/api/", Doc: "Slack Web API base URL (a fake's, in tests)",
		set: func(c *Config, v string) error {
			c.SlackAPIURL = withSlash(v)
			return checkURL(v, "http", "https")
		}},
	{Name: "SLACK_ALERT_CHANNEL", Doc: "channel id (C…) or #name for alerts",
		set: func(c *Config, v string) error {
			c.SlackAlertChannel = v
			return checkRE(v, slackChannelRE, "a channel id like C0123ABCD or #name")
		}},
	{Name: "SLACK_REPORT_CHANNEL", Doc: "channel id (C…) or #name for the 06:00 report",
		set: func(c *Config, v string) error {
			c.SlackReportChannel = v
			return checkRE(v, slackChannelRE, "a channel id like C0123ABCD or #name")
		}},
	{Name: "OPENAI_API_KEY", Secret: true, Doc: "OpenAI API key",
		set: func(c *Config, v string) error { c.OpenAIAPIKey = v; return nil }},
	{Name: "OPENAI_BASE_URL", Default: "https://api.openai.com/v1/", Doc: "OpenAI API base URL (a fake's, in tests)",
		set: func(c *Config, v string) error { c.OpenAIBaseURL = withSlash(v); return checkURL(v, "http", "https") }},
	{Name: "OPENAI_MODEL", Default: "gpt-4.1-mini", Doc: "model for the Responses API tool loop",
		set: func(c *Config, v string) error { c.OpenAIModel = v; return nil }},
	{Name: "LOCONAV_WEBHOOK_TOKEN", Secret: true, Doc: "shared token LocoNav sends (Bearer, X-Webhook-Token or ?token=); webhooks are refused without one",
		set: func(c *Config, v string) error {
			c.LocoNavWebhookToken = v
			if v != "" && len(v) < 16 {
				return errors.New("must be at least 16 characters")
			}
			return nil
		}},
	{Name: "LOCONAV_WEBHOOK_HMAC_SECRET", Secret: true, Doc: "optional HMAC-SHA256 secret for signed webhooks",
		set: func(c *Config, v string) error { c.LocoNavWebhookHMACSecret = v; return nil }},
	{Name: "LOCONAV_ALLOWED_CIDRS", Doc: "optional comma-separated CIDRs or IPs allowed to post webhooks",
		set: func(c *Config, v string) error {
			c.LocoNavAllowedCIDRs = nil
			for s := range strings.SplitSeq(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				p, err := netip.ParsePrefix(s)
				if err != nil {
					a, aerr := netip.ParseAddr(s)
					if aerr != nil {
						return fmt.Errorf("%q is not a CIDR or IP address", s)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				c.LocoNavAllowedCIDRs = append(c.LocoNavAllowedCIDRs, p.Masked())
			}
			return nil
		}},
	{Name: "LOCONAV_API_URL", Default: "https://api.a.loconav.com/integration/api/v1", Doc: "LocoNav integration API base URL",
		set: func(c *Config, v string) error {
			c.LocoNavAPIURL = strings.TrimRight(v, "/")
			return checkURL(v, "http", "https")
		}},
	{Name: "LOCONAV_API_TOKEN", Secret: true, Doc: "LocoNav User-Authentication token; empty disables polling and trip sync",
		set: func(c *Config, v string) error { c.LocoNavAPIToken = v; return nil }},
	{Name: "LOCONAV_TIMEZONE", Default: "Africa/Lagos", Doc: "zone of LocoNav's zone-less timestamps",
		set: func(c *Config, v string) (err error) { c.LocoNavTimezone, err = loadZone(v); return err }},
	{Name: "SHEETS_SPREADSHEET_ID", Doc: "Google Sheet holding the fleet's master data",
		set: func(c *Config, v string) error { c.SheetsSpreadsheetID = v; return nil }},
	{Name: "GOOGLE_APPLICATION_CREDENTIALS", Doc: "path to the service-account JSON for Sheets",
		set: func(c *Config, v string) error {
			c.GoogleApplicationCredentials = v
			if v == "" {
				return nil
			}
			if _, err := os.Stat(v); err != nil {
				return fmt.Errorf("cannot read %q", v)
			}
			return nil
		}},
	{Name: "SHEETS_TABS", Default: "Organizations,Locations,Trucks,Drivers,Users",
		Doc: "the sheet's tab for organizations, locations, trucks, drivers and users, in that order; a blank name skips that table",
		set: func(c *Config, v string) error {
			parts := strings.Split(v, ",")
			if len(parts) != 5 {
				return fmt.Errorf("needs five comma-separated tab names (organizations, locations, trucks, drivers, users), has %d", len(parts))
			}
			for i, p := range parts {
				c.SheetsTabs[i] = strings.TrimSpace(p)
			}
			return nil
		}},
	{Name: "REPORT_CRON", Default: "0 6 * * *", Doc: "when the daily report of yesterday is posted: a five-field cron schedule in REPORT_TIMEZONE",
		set: func(c *Config, v string) error { c.ReportCron = v; return checkCron(v) }},
	{Name: "REPORT_ON_TIME_MINUTES", Default: "30", Doc: "how late a departure or delivery may be and still count as on time in the KPIs",
		set: func(c *Config, v string) (err error) { c.ReportOnTime, err = minutes(v); return err }},
	{Name: "REPORT_WEEKLY_CRON", Default: "0 6 * * 1", Doc: "when the weekly report (the seven days to yesterday) is posted: a five-field cron schedule in REPORT_TIMEZONE",
		set: func(c *Config, v string) error { c.ReportWeeklyCron = v; return checkCron(v) }},
	{Name: "SHEETS_SYNC_CRON", Default: "*/15 * * * *", Doc: "when the sheet sync runs: a five-field cron schedule in REPORT_TIMEZONE",
		set: func(c *Config, v string) error { c.SheetsSyncCron = v; return checkCron(v) }},
	{Name: "SHEETS_API_URL", Doc: "Sheets API base URL override (a fake's, in tests); empty is Google's",
		set: func(c *Config, v string) error {
			c.SheetsAPIURL = v
			if v == "" {
				return nil
			}
			return checkURL(v, "http", "https")
		}},
	{Name: "REPORT_TIMEZONE", Default: "Africa/Lagos", Doc: "zone of the daily report's day and 06:00",
		set: func(c *Config, v string) (err error) { c.ReportTimezone, err = loadZone(v); return err }},
	{Name: "WATCHTOWER_ADMINS", Doc: "comma-separated Slack user ids that are always admins",
		set: func(c *Config, v string) error {
			c.Admins = nil
			for s := range strings.SplitSeq(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				if !slackUserRE.MatchString(s) {
					return fmt.Errorf("%q is not a Slack user id (U… or W…)", s)
				}
				c.Admins = append(c.Admins, s)
			}
			return nil
		}},
	{Name: "LOG_LEVEL", Default: "info", Doc: "debug, info, warn or error",
		set: func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{Name: "LOG_FORMAT", Default: "auto", Doc: "auto (coloured on a terminal, JSON otherwise), text or json",
		set: func(c *Config, v string) error {
			c.LogFormat = v
			if v != "auto" && v != "text" && v != "json" {
				return errors.New("must be auto, text or json")
			}
			return nil
		}},
	{Name: "POSITION_RETENTION_DAYS", Default: "30", Doc: "days of GPS history kept (older daily partitions are dropped)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 3650 {
				return errors.New("must be a whole number of days from 1 to 3650")
			}
			c.PositionRetentionDays = n
			return nil
		}},
	{Name: "OVERSPEED_KMH", Default: "60", Doc: "speed above which a truck is speeding (km/h)",
		set: func(c *Config, v string) (err error) { c.OverspeedKmh, err = positive(v, 200); return err }},
	{Name: "IDLE_MINUTES", Default: "20", Doc: "minutes stopped with ignition on before an idling alert",
		set: func(c *Config, v string) (err error) { c.IdleAfter, err = minutes(v); return err }},
	{Name: "OFFLINE_MINUTES", Default: "120", Doc: "minutes without a fix before a device-offline alert",
		set: func(c *Config, v string) (err error) { c.OfflineAfter, err = minutes(v); return err }},
	{Name: "DWELL_MINUTES", Default: "5", Doc: "minutes inside (outside) a geofence before a truck has entered (left) it",
		set: func(c *Config, v string) (err error) { c.Dwell, err = minutes(v); return err }},
	{Name: "TRIP_DELAY_MINUTES", Default: "120", Doc: "minutes past its scheduled departure before a trip that has not left is delayed",
		set: func(c *Config, v string) (err error) { c.TripDelayAfter, err = minutes(v); return err }},
	{Name: "LOCONAV_POLL_INTERVAL", Default: "5m", Doc: "how often to poll LocoNav's last_known positions (with LOCONAV_API_TOKEN)",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 30*time.Second || d > 24*time.Hour {
				return errors.New("must be a duration from 30s to 24h, e.g. 5m")
			}
			c.LocoNavPollInterval = d
			return nil
		}},
	{Name: "STREAM_MAXLEN", Default: "20000000", Doc: "approximate cap on the events stream (a memory guard; size it above the worst backlog)",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 10_000 {
				return errors.New("must be a whole number of at least 10000")
			}
			c.StreamMaxLen = n
			return nil
		}},
	{Name: "API_RATE_LIMIT", Default: "600", Doc: "requests a minute each API key may make, shared by all replicas (0: no limit)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000 {
				return errors.New("must be a whole number from 0 to 1000000")
			}
			c.APIRateLimit = n
			return nil
		}},
	{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Doc: "OTLP/HTTP collector for traces, e.g. http://127.0.0.1:4318; empty exports none (the ids are still in the logs)",
		set: func(c *Config, v string) error {
			c.OTLPEndpoint = v
			if v == "" {
				return nil
			}
			return checkURL(v, "http", "https")
		}},
}

// ConfigError names the variable that is wrong and how.
type ConfigError struct {
	Name    string
	Problem string
}

func (e *ConfigError) Error() string { return "config: " + e.Name + ": " + e.Problem }

// LoadConfig reads the configuration through getenv (os.Getenv in
// production) and validates it. The first problem found is returned.
func LoadConfig(getenv func(string) string) (*Config, error) {
	c := &Config{}
	for _, o := range options {
		v := strings.TrimSpace(getenv(o.Name))
		if v == "" {
			v = o.Default
		}
		if err := o.set(c, v); err != nil {
			return nil, &ConfigError{Name: o.Name, Problem: err.Error()}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks what no single variable can: settings that only make sense
// together.
func (c *Config) Validate() error {
	switch {
	case c.SlackBotToken != "" && c.SlackAppToken == "":
		return &ConfigError{"SLACK_APP_TOKEN", "is required with SLACK_BOT_TOKEN: Socket Mode needs both"}
	case c.SlackAppToken != "" && c.SlackBotToken == "":
		return &ConfigError{"SLACK_BOT_TOKEN", "is required with SLACK_APP_TOKEN: Socket Mode needs both"}
	case c.SheetsSpreadsheetID != "" && c.GoogleApplicationCredentials == "" && c.SheetsAPIURL == "":
		return &ConfigError{"GOOGLE_APPLICATION_CREDENTIALS", "is required with SHEETS_SPREADSHEET_ID"}
	case c.LocoNavWebhookHMACSecret != "" && len(c.LocoNavWebhookHMACSecret) < 16:
		return &ConfigError{"LOCONAV_WEBHOOK_HMAC_SECRET", "must be at least 16 characters"}
	}
	return nil
}

// PrintConfig writes every setting as NAME=value with its meaning, secrets
// shown only as set or unset.
func PrintConfig(w io.Writer, getenv func(string) string) {
	for _, o := range options {
		v := strings.TrimSpace(getenv(o.Name))
		source := ""
		if v == "" {
			v, source = o.Default, " (default)"
		}
		if o.Secret && v != "" {
			v = redact(o.Name, v)
		}
		fmt.Fprintf(w, "%s=%s\t# %s%s\n", o.Name, v, o.Doc, source)
	}
}

// redact hides a secret. For URLs only the credentials are hidden (user
// password, and password-like query parameters, which pgx and go-redis
// accept), so that which host we talk to stays visible.
func redact(name, v string) string {
	if strings.HasSuffix(name, "_URL") {
		if u, err := url.Parse(v); err == nil && u.Scheme != "" {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			q := u.Query()
			for k := range q {
				switch strings.ToLower(k) {
				case "password", "pass", "passwd", "pwd", "secret", "token", "sslpassword":
					q.Set(k, "xxxxx")
				}
			}
			u.RawQuery = q.Encode()
			return u.Redacted()
		}
	}
	return "<set, redacted>"
}

func checkURL(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("is not a URL")
	}
	for _, s := range schemes {
		if u.Scheme == s {
			// postgres:///db?host=/run/postgresql is a Unix socket.
			if u.Host == "" && s != "unix" && u.Query().Get("host") == "" {
				return errors.New("has no host")
			}
			return nil
		}
	}
	return fmt.Errorf("scheme %q is not %s", u.Scheme, strings.Join(schemes, " or "))
}

func checkPrefix(v, prefix, what string) error {
	if v != "" && !strings.HasPrefix(v, prefix) {
		return fmt.Errorf("must start with %s (%s)", prefix, what)
	}
	return nil
}

func checkRE(v string, re *regexp.Regexp, what string) error {
	if v != "" && !re.MatchString(v) {
		return fmt.Errorf("%q is not %s", v, what)
	}
	return nil
}

func positive(v string, most float64) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > most {
		return 0, fmt.Errorf("must be a number above 0 and at most %v", most)
	}
	return f, nil
}

// checkCron accepts a five-field cron schedule; the scheduler reads the
// fields themselves when it starts.
func checkCron(v string) error {
	if len(strings.Fields(v)) != 5 {
		return fmt.Errorf("%q is not a five-field cron schedule (minute hour day month weekday)", v)
	}
	return nil
}

func minutes(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 7*24*60 {
		return 0, errors.New("must be a whole number of minutes from 1 to 10080")
	}
	return time.Duration(n) * time.Minute, nil
}

func withSlash(v string) string {
	if v != "" && !strings.HasSuffix(v, "/") {
		return v + "/"
	}
	return v
}

func loadZone(v string) (*time.Location, error) {
	loc, err := time.LoadLocation(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone (e.g. Africa/Lagos)", v)
	}
	return loc, nil
}
