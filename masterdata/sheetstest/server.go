// Package sheetstest is a fake of the Google Sheets API's values.batchGet,
// in Google's wire format, for the sheet sync's tests: tabs of unformatted
// values (numbers as JSON floats, dates as serial numbers, ragged rows, empty
// tabs), Google's error bodies for a missing tab, and 429s on demand. The
// real google.golang.org/api client runs against it.
package sheetstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Server is the fake.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	sheetID  string
	tabs     map[string][][]any
	order    []string
	limited  int // the next n requests answer 429
	requests []url.Values
}

// NewServer serves spreadsheet id; it stops with the test.
func NewServer(t testing.TB, id string) *Server {
	s := &Server{sheetID: id, tabs: map[string][][]any{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base (SHEETS_API_URL).
func (s *Server) URL() string { return s.srv.URL + "/" }

// SetTab sets a tab's rows (nil: an empty tab).
func (s *Server) SetTab(name string, rows [][]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tabs[name]; !ok {
		s.order = append(s.order, name)
	}
	s.tabs[name] = rows
}

// RenameTab renames a tab, as a person might.
func (s *Server) RenameTab(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tabs[to] = s.tabs[from]
	delete(s.tabs, from)
}

// RateLimit makes the next n requests answer 429 RESOURCE_EXHAUSTED.
func (s *Server) RateLimit(n int) {
	s.mu.Lock()
	s.limited = n
	s.mu.Unlock()
}

// Requests returns the query of every batchGet received.
func (s *Server) Requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	prefix := "/v4/spreadsheets/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	id, op, _ := strings.Cut(rest, "/values:")
	if !ok || op != "batchGet" || r.Method != http.MethodGet {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "", "Requested entity was not found.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.URL.Query())
	if s.limited > 0 {
		s.limited--
		googleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "rateLimitExceeded",
			"Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com'.")
		return
	}
	if id != s.sheetID {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "notFound", "Requested entity was not found.")
		return
	}
	q := r.URL.Query()
	major := q.Get("majorDimension")
	if major == "" {
		major = "ROWS"
	}
	var ranges []map[string]any
	for _, rg := range q["ranges"] {
		name := rg
		if strings.HasPrefix(name, "'") && strings.HasSuffix(name, "'") && len(name) >= 2 {
			name = strings.ReplaceAll(name[1:len(name)-1], "''", "'")
		}
		rows, ok := s.tabs[name]
		if !ok {
			googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "badRequest", "Unable to parse range: "+rg)
			return
		}
		vr := map[string]any{"range": fmt.Sprintf("%s!A1:%s%d", rg, column(width(rows)), max(1, len(rows))), "majorDimension": major}
		if len(rows) > 0 {
			// Google trims trailing empty cells and rows.
			vr["values"] = trim(rows)
		}
		ranges = append(ranges, vr)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"spreadsheetId": s.sheetID, "valueRanges": ranges})
}

func trim(rows [][]any) [][]any {
	out := make([][]any, 0, len(rows))
	for _, r := range rows {
		n := len(r)
		for n > 0 && (r[n-1] == nil || r[n-1] == "") {
			n--
		}
		out = append(out, r[:n])
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	return out
}

func width(rows [][]any) int {
	w := 1
	for _, r := range rows {
		w = max(w, len(r))
	}
	return w
}

func column(n int) string {
	s := ""
	for n > 0 {
		n--
		s = string(rune('A'+n%26)) + s
		n /= 26
	}
	return s
}

// googleError writes Google's JSON error body.
func googleError(w http.ResponseWriter, code int, status, reason, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	body := map[string]any{"code": code, "message": msg, "status": status}
	if reason != "" {
		body["errors"] = []map[string]any{{"message": msg, "domain": "global", "reason": reason}}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}
