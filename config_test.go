package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// env is a getenv over a fixed map, so that parallel tests never share the
// process environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// with returns a copy of base with the pairs (name, value, name, value…) set.
func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]map[string]string{
		"empty": {},
		// Whitespace is trimmed, so a stray blank in a deployment file is unset.
		"blank": {"HTTP_ADDR": "  ", "SLACK_API_URL": "\t", "LOCONAV_TIMEZONE": " ", "REPORT_TIMEZONE": " ",
			"POSITION_RETENTION_DAYS": " ", "LOG_FORMAT": " ", "LOG_LEVEL": " "},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(env(m))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if c.HTTPAddr != ":8080" {
				t.Errorf("HTTPAddr = %q, want :8080", c.HTTPAddr)
			}
			if c.SlackAPIURL != "https://slack.com/api/" {
				t.Errorf("SlackAPIURL = %q, want https://slack.com/api/", c.SlackAPIURL)
			}
			if c.LocoNavTimezone == nil || c.LocoNavTimezone.String() != "Africa/Lagos" {
				t.Errorf("LocoNavTimezone = %v, want Africa/Lagos", c.LocoNavTimezone)
			}
			if c.ReportTimezone == nil || c.ReportTimezone.String() != "Africa/Lagos" {
				t.Errorf("ReportTimezone = %v, want Africa/Lagos", c.ReportTimezone)
			}
			if c.PositionRetentionDays != 30 {
				t.Errorf("PositionRetentionDays = %d, want 30", c.PositionRetentionDays)
			}
			if c.LogFormat != "auto" {
				t.Errorf("LogFormat = %q, want auto", c.LogFormat)
			}
			if c.LogLevel != slog.LevelInfo {
				t.Errorf("LogLevel = %v, want INFO", c.LogLevel)
			}
			if c.SlackBotToken != "" || c.OpenAIAPIKey != "" || len(c.Admins) != 0 || len(c.LocoNavAllowedCIDRs) != 0 {
				t.Errorf("unset options have values: %+v", c)
			}
		})
	}
}

func TestLoadConfigBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
	}{
		{"HTTP_ADDR", "8080"},
		{"HTTP_ADDR", "host:99999"},
		{"HTTP_ADDR", "host:-1"},
		{"HTTP_ADDR", "foo"},
		{"DATABASE_URL", "mysql://x/y"},
		{"DATABASE_URL", "postgres://"},
		{"REDIS_URL", "http://x"},
		{"REDIS_URL", "redis://"},
		{"SLACK_BOT_TOKEN", "xoxp-1234-5678"},
		{"SLACK_APP_TOKEN", "xoxb-1234-5678"},
		{"SLACK_API_URL", "ftp://x"},
		{"SLACK_ALERT_CHANNEL", "general"},
		{"SLACK_REPORT_CHANNEL", "#General"},
		{"OPENAI_BASE_URL", "ftp://x"},
		{"LOCONAV_WEBHOOK_TOKEN", "short"},
		{"LOCONAV_WEBHOOK_TOKEN", "0123456789abcde"}, // 15, one short
		{"LOCONAV_ALLOWED_CIDRS", "10.0.0.0/33"},
		{"LOCONAV_ALLOWED_CIDRS", "nonsense"},
		{"LOCONAV_ALLOWED_CIDRS", "10.0.0.0/8, nonsense"},
		{"LOCONAV_API_URL", "ftp://x"},
		{"LOCONAV_TIMEZONE", "Mars/Olympus"},
		{"REPORT_TIMEZONE", "Lagos"},
		{"GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent.json"},
		{"SHEETS_API_URL", "sheets.example"},
		{"WATCHTOWER_ADMINS", "U123,bob"},
		{"WATCHTOWER_ADMINS", "u123"},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "xml"},
		{"POSITION_RETENTION_DAYS", "0"},
		{"POSITION_RETENTION_DAYS", "x"},
		{"POSITION_RETENTION_DAYS", "3651"},
		{"POSITION_RETENTION_DAYS", "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatalf("LoadConfig accepted %s=%q: %+v", tt.name, tt.value, c)
			}
			if c != nil {
				t.Errorf("LoadConfig returned a config with its error: %+v", c)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *ConfigError", err, err)
			}
			if ce.Name != tt.name {
				t.Errorf("ConfigError.Name = %q, want %q (error: %v)", ce.Name, tt.name, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: "+tt.name+": ") || len(msg) == len("config: "+tt.name+": ") {
				t.Errorf("error %q does not start with %q followed by a problem", msg, "config: "+tt.name+": ")
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestLoadConfigCrossField(t *testing.T) {
	t.Parallel()
	creds := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(creds, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	slack := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1-2-3",
		"SLACK_APP_TOKEN": "xapp-1-A1-2",
		"OPENAI_API_KEY":  "sk-test",
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // ConfigError.Name; "" for no error
	}{
		{"bot without app", with(slack, "SLACK_APP_TOKEN", ""), "SLACK_APP_TOKEN"},
		{"app without bot", with(slack, "SLACK_BOT_TOKEN", ""), "SLACK_BOT_TOKEN"},
		// Without a model the bot still answers /fleet and what the grammar can place.
		{"slack without openai", with(slack, "OPENAI_API_KEY", ""), ""},
		{"slack complete", slack, ""},
		{"openai without slack", map[string]string{"OPENAI_API_KEY": "sk-test"}, ""},
		{"hmac secret 15 chars", map[string]string{"LOCONAV_WEBHOOK_HMAC_SECRET": "0123456789abcde"}, "LOCONAV_WEBHOOK_HMAC_SECRET"},
		{"hmac secret 16 chars", map[string]string{"LOCONAV_WEBHOOK_HMAC_SECRET": "0123456789abcdef"}, ""},
		{"sheet without credentials", map[string]string{"SHEETS_SPREADSHEET_ID": "1abc"}, "GOOGLE_APPLICATION_CREDENTIALS"},
		{"sheet with credentials", map[string]string{"SHEETS_SPREADSHEET_ID": "1abc", "GOOGLE_APPLICATION_CREDENTIALS": creds}, ""},
		{"sheet with fake api", map[string]string{"SHEETS_SPREADSHEET_ID": "1abc", "SHEETS_API_URL": "http://127.0.0.1:1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(env(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				// Validate on the loaded config agrees with LoadConfig.
				if err := c.Validate(); err != nil {
					t.Errorf("Validate of a loaded config: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadConfig error = %v (%T), want *ConfigError for %s", err, err, tt.wantErr)
			}
			if ce.Name != tt.wantErr {
				t.Errorf("ConfigError.Name = %q, want %q (%v)", ce.Name, tt.wantErr, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "config: "+tt.wantErr+": ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line starting with config: %s: ", msg, tt.wantErr)
			}
		})
	}
}

func TestValidateZeroConfig(t *testing.T) {
	t.Parallel()
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("Validate of an empty Config: %v", err)
	}
	err := (&Config{SlackBotToken: "xoxb-1"}).Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Name != "SLACK_APP_TOKEN" {
		t.Errorf("Validate with only a bot token = %v, want ConfigError for SLACK_APP_TOKEN", err)
	}
}

func TestLoadConfigGoodValues(t *testing.T) {
	t.Parallel()
	creds := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(creds, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	prefixes := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"cidrs and a bare ip", map[string]string{"LOCONAV_ALLOWED_CIDRS": "203.0.113.0/24, 198.51.100.7"}, func(t *testing.T, c *Config) {
			if want := prefixes("203.0.113.0/24", "198.51.100.7/32"); !slices.Equal(c.LocoNavAllowedCIDRs, want) {
				t.Errorf("LocoNavAllowedCIDRs = %v, want %v", c.LocoNavAllowedCIDRs, want)
			}
		}},
		{"cidr host bits are masked, ipv6, empty items", map[string]string{"LOCONAV_ALLOWED_CIDRS": "203.0.113.9/24,,2001:db8::1 ,"}, func(t *testing.T, c *Config) {
			if want := prefixes("203.0.113.0/24", "2001:db8::1/128"); !slices.Equal(c.LocoNavAllowedCIDRs, want) {
				t.Errorf("LocoNavAllowedCIDRs = %v, want %v", c.LocoNavAllowedCIDRs, want)
			}
		}},
		{"slack api url gets a slash", map[string]string{"SLACK_API_URL": "http://127.0.0.1:9999/api"}, func(t *testing.T, c *Config) {
			if c.SlackAPIURL != "http://127.0.0.1:9999/api/" {
				t.Errorf("SlackAPIURL = %q, want http://127.0.0.1:9999/api/", c.SlackAPIURL)
			}
		}},
		{"slack api url keeps its one slash", map[string]string{"SLACK_API_URL": "http://127.0.0.1:9999/api/"}, func(t *testing.T, c *Config) {
			if c.SlackAPIURL != "http://127.0.0.1:9999/api/" {
				t.Errorf("SlackAPIURL = %q, want http://127.0.0.1:9999/api/", c.SlackAPIURL)
			}
		}},
		{"openai base url gets a slash", map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:9999/v1"}, func(t *testing.T, c *Config) {
			if c.OpenAIBaseURL != "http://127.0.0.1:9999/v1/" {
				t.Errorf("OpenAIBaseURL = %q", c.OpenAIBaseURL)
			}
		}},
		{"loconav api url loses its slash", map[string]string{"LOCONAV_API_URL": "http://127.0.0.1:9999/api/v1/"}, func(t *testing.T, c *Config) {
			if c.LocoNavAPIURL != "http://127.0.0.1:9999/api/v1" {
				t.Errorf("LocoNavAPIURL = %q", c.LocoNavAPIURL)
			}
		}},
		{"admins", map[string]string{"WATCHTOWER_ADMINS": "U1ABC, W2DEF"}, func(t *testing.T, c *Config) {
			if want := []string{"U1ABC", "W2DEF"}; !slices.Equal(c.Admins, want) {
				t.Errorf("Admins = %q, want %q", c.Admins, want)
			}
		}},
		{"empty report timezone is the default", map[string]string{"REPORT_TIMEZONE": ""}, func(t *testing.T, c *Config) {
			if c.ReportTimezone.String() != "Africa/Lagos" {
				t.Errorf("ReportTimezone = %v", c.ReportTimezone)
			}
		}},
		{"timezones", map[string]string{"REPORT_TIMEZONE": "Europe/London", "LOCONAV_TIMEZONE": "UTC"}, func(t *testing.T, c *Config) {
			if c.ReportTimezone.String() != "Europe/London" || c.LocoNavTimezone.String() != "UTC" {
				t.Errorf("ReportTimezone = %v, LocoNavTimezone = %v", c.ReportTimezone, c.LocoNavTimezone)
			}
		}},
		{"retention bounds low", map[string]string{"POSITION_RETENTION_DAYS": "1"}, func(t *testing.T, c *Config) {
			if c.PositionRetentionDays != 1 {
				t.Errorf("PositionRetentionDays = %d", c.PositionRetentionDays)
			}
		}},
		{"retention bounds high", map[string]string{"POSITION_RETENTION_DAYS": "3650"}, func(t *testing.T, c *Config) {
			if c.PositionRetentionDays != 3650 {
				t.Errorf("PositionRetentionDays = %d", c.PositionRetentionDays)
			}
		}},
		{"log level and format", map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "json"}, func(t *testing.T, c *Config) {
			if c.LogLevel != slog.LevelDebug || c.LogFormat != "json" {
				t.Errorf("LogLevel = %v, LogFormat = %q", c.LogLevel, c.LogFormat)
			}
		}},
		{"channels", map[string]string{"SLACK_ALERT_CHANNEL": "C0123ABCD", "SLACK_REPORT_CHANNEL": "#fleet-report"}, func(t *testing.T, c *Config) {
			if c.SlackAlertChannel != "C0123ABCD" || c.SlackReportChannel != "#fleet-report" {
				t.Errorf("channels = %q, %q", c.SlackAlertChannel, c.SlackReportChannel)
			}
		}},
		{"urls", map[string]string{"DATABASE_URL": "postgresql://u:p@db:5432/wt", "REDIS_URL": "unix:///run/redis.sock", "HTTP_ADDR": "127.0.0.1:0"}, func(t *testing.T, c *Config) {
			if c.DatabaseURL != "postgresql://u:p@db:5432/wt" || c.RedisURL != "unix:///run/redis.sock" || c.HTTPAddr != "127.0.0.1:0" {
				t.Errorf("DatabaseURL = %q, RedisURL = %q, HTTPAddr = %q", c.DatabaseURL, c.RedisURL, c.HTTPAddr)
			}
		}},
		{"credentials file exists", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": creds}, func(t *testing.T, c *Config) {
			if c.GoogleApplicationCredentials != creds {
				t.Errorf("GoogleApplicationCredentials = %q", c.GoogleApplicationCredentials)
			}
		}},
		{"values are trimmed", map[string]string{"HTTP_ADDR": " :9090\n", "WATCHTOWER_ADMINS": " U1ABC "}, func(t *testing.T, c *Config) {
			if c.HTTPAddr != ":9090" || !slices.Equal(c.Admins, []string{"U1ABC"}) {
				t.Errorf("HTTPAddr = %q, Admins = %q", c.HTTPAddr, c.Admins)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(env(tt.env))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestPrintConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	m := map[string]string{
		"SLACK_BOT_TOKEN":             "xoxb-secret-123",
		"SLACK_APP_TOKEN":             "xapp-secret-456",
		"OPENAI_API_KEY":              "sk-topsecret",
		"DATABASE_URL":                "postgres://wt:hunter2@db.example:5432/wt",
		"REDIS_URL":                   "redis://:redispass99@cache.example:6379/0",
		"LOCONAV_WEBHOOK_TOKEN":       "webhook-token-0123456789",
		"LOCONAV_WEBHOOK_HMAC_SECRET": "hmac-secret-0123456789",
		"LOCONAV_API_TOKEN":           "loconav-api-token-xyz",
		"HTTP_ADDR":                   "127.0.0.1:9090",
	}
	var buf bytes.Buffer
	PrintConfig(&buf, env(m))
	out := buf.String()

	for _, secret := range []string{"xoxb-secret-123", "secret-123", "xapp-secret-456", "sk-topsecret", "topsecret",
		"hunter2", "redispass99", "webhook-token-0123456789", "hmac-secret-0123456789", "loconav-api-token-xyz"} {
		if strings.Contains(out, secret) {
			t.Errorf("PrintConfig shows the secret %q:\n%s", secret, out)
		}
	}
	// Which database and Redis we talk to stays visible.
	for _, visible := range []string{"db.example", "cache.example", "127.0.0.1:9090"} {
		if !strings.Contains(out, visible) {
			t.Errorf("PrintConfig hides %q:\n%s", visible, out)
		}
	}

	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		name, _, ok := strings.Cut(l, "=")
		if !ok {
			t.Errorf("line %q is not NAME=value", l)
			continue
		}
		if _, dup := lines[name]; dup {
			t.Errorf("%s printed twice", name)
		}
		lines[name] = l
	}
	if len(lines) != len(options) {
		t.Errorf("printed %d options, want %d:\n%s", len(lines), len(options), out)
	}
	for _, o := range options {
		l, ok := lines[o.Name]
		if !ok {
			t.Errorf("%s not printed", o.Name)
			continue
		}
		if !strings.Contains(l, "# "+o.Doc) {
			t.Errorf("%s line %q lacks its doc %q", o.Name, l, o.Doc)
		}
		_, set := m[o.Name]
		if isDefault := strings.HasSuffix(l, "(default)"); isDefault == set {
			t.Errorf("%s line %q: marked default = %v, but set = %v", o.Name, l, isDefault, set)
		}
	}
	if l := lines["POSITION_RETENTION_DAYS"]; !strings.HasPrefix(l, "POSITION_RETENTION_DAYS=30\t") {
		t.Errorf("default value not shown: %q", l)
	}
}

// TestPrintConfigRedactsEverySecretOption sets each secret option on its own
// to a value carrying a marker, so that a secret added to the table later is
// covered too.
func TestPrintConfigRedactsEverySecretOption(t *testing.T) {
	t.Parallel()
	const marker = "Zq9sEcReTmArKeR"
	for _, o := range options {
		if !o.Secret {
			continue
		}
		t.Run(o.Name, func(t *testing.T) {
			t.Parallel()
			v := "tok-" + marker
			if strings.HasSuffix(o.Name, "_URL") {
				v = "postgres://user:" + marker + "@host.example:5432/db"
			}
			var buf bytes.Buffer
			PrintConfig(&buf, env(map[string]string{o.Name: v}))
			if strings.Contains(buf.String(), marker) {
				t.Errorf("PrintConfig shows %s=%s:\n%s", o.Name, v, buf.String())
			}
		})
	}
}

func TestOptionsTable(t *testing.T) {
	t.Parallel()
	nameRE := regexp.MustCompile(`^[A-Z][A-Z0-9_]*[A-Z0-9]$`)
	secretRE := regexp.MustCompile(`(TOKEN|KEY|SECRET|PASSWORD)$`)
	seen := map[string]bool{}
	for i, o := range options {
		if !nameRE.MatchString(o.Name) {
			t.Errorf("options[%d]: name %q is not UPPER_SNAKE_CASE", i, o.Name)
		}
		if seen[o.Name] {
			t.Errorf("options[%d]: name %q appears twice", i, o.Name)
		}
		seen[o.Name] = true
		if strings.TrimSpace(o.Doc) == "" {
			t.Errorf("%s has no Doc", o.Name)
		}
		if strings.ContainsAny(o.Doc, "\n\t") {
			t.Errorf("%s: Doc %q would break the NAME=value # doc line of PrintConfig", o.Name, o.Doc)
		}
		if o.set == nil {
			t.Errorf("%s has no setter", o.Name)
		}
		if secretRE.MatchString(o.Name) && !o.Secret {
			t.Errorf("%s looks secret but is not marked Secret", o.Name)
		}
	}
}

// TestPrintConfigRedactsQueryPasswords covers passwords given as URL query
// parameters, which pgx and go-redis both accept.
func TestPrintConfigRedactsQueryPasswords(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	PrintConfig(&out, env(map[string]string{
		"DATABASE_URL": "postgres://db.example/wt?password=hunter3&sslmode=disable",
		"REDIS_URL":    "redis://cache.example:6379/0?password=redispass42",
	}))
	for _, secret := range []string{"hunter3", "redispass42"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("config output leaks %q:\n%s", secret, out.String())
		}
	}
	for _, host := range []string{"db.example", "cache.example", "sslmode=disable"} {
		if !strings.Contains(out.String(), host) {
			t.Errorf("config output lost %q:\n%s", host, out.String())
		}
	}
}

func TestLoadConfigSocketAndMultilineValues(t *testing.T) {
	t.Parallel()
	if _, err := LoadConfig(env(map[string]string{"DATABASE_URL": "postgres:///wt?host=/var/run/postgresql"})); err != nil {
		t.Errorf("Unix-socket DATABASE_URL refused: %v", err)
	}
	_, err := LoadConfig(env(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/no\nsuch"}))
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("credentials path with a newline: %q; want a one-line error", err)
	}
}
