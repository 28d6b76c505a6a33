package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SyncTable is what a sync did to one table, by natural key.
type SyncTable struct {
	Inserted, Updated, Deactivated []string
	Unchanged                      int
}

// Changed counts the rows written.
func (t *SyncTable) Changed() int { return len(t.Inserted) + len(t.Updated) + len(t.Deactivated) }

// SyncDiff is what a sync did, table by table (organizations, locations,
// trucks, drivers, users).
type SyncDiff map[string]*SyncTable

// Changed counts the rows written in all tables.
func (d SyncDiff) Changed() int {
	n := 0
	for _, t := range d {
		n += t.Changed()
	}
	return n
}

func (d SyncDiff) table(name string) *SyncTable {
	if d[name] == nil {
		d[name] = &SyncTable{}
	}
	return d[name]
}

// syncTables are the tables of master data in the order they apply.
var syncTables = []string{"organizations", "locations", "trucks", "drivers", "users"}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run")

// maxRowRetries bounds how many rows the database may refuse in one sync
// before the sync gives up: each refusal retries without that row.
const maxRowRetries = 20

// SyncFleet applies master data read from a sheet: the rows given are
// upserted (only changed rows are written), and the rows of the tables read
// (present) that the sheet no longer has are deactivated, never deleted.
// A row the database refuses (a company no row names, say) is reported and
// left out; the others apply. It is one transaction; dryRun rolls it back
// and only reports. A table read but without one good row deactivates
// nothing: that is a broken tab, not an empty fleet.
func (db *DB) SyncFleet(ctx context.Context, actor string, in FleetImport, present []string, dryRun bool) (SyncDiff, []string, error) {
	var problems []string
	for range maxRowRetries {
		diff, bad, err := db.syncOnce(ctx, actor, in, present, dryRun)
		var re *rowError
		if errors.As(err, &re) {
			problems = append(problems, re.ref+": "+reason(re.err))
			// The refused row stays as it was: its key must not look gone.
			keep := map[string][]string{}
			for k, v := range in.Keep {
				keep[k] = append([]string(nil), v...)
			}
			if re.key != "" {
				keep[re.table] = append(keep[re.table], re.key)
			}
			in, in.Keep = bad, keep
			continue
		}
		if errors.Is(err, errDryRun) {
			err = nil
		}
		return diff, problems, err
	}
	return nil, problems, fmt.Errorf("store: sync: more than %d rows refused", maxRowRetries)
}

// rowError is a row the database refused.
type rowError struct {
	ref, table, key string
	err             error
}

func (e *rowError) Error() string { return e.ref + ": " + e.err.Error() }

// reason is a refused row's reason without "invalid: ", for a sentence that
// already names the row.
func reason(err error) string {
	if re, ok := err.(*reasonError); ok && error(re.kind) == ErrInvalid {
		return re.reason
	}
	return err.Error()
}

// syncOnce runs the sync's transaction. On a refused row it returns a
// *rowError and the input without that row.
func (db *DB) syncOnce(ctx context.Context, actor string, in FleetImport, present []string, dryRun bool) (SyncDiff, FleetImport, error) {
	diff := SyncDiff{}
	without := in
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		note := func(table, key string, c change) {
			t := diff.table(table)
			switch c {
			case inserted:
				t.Inserted = append(t.Inserted, key)
			case updated:
				t.Updated = append(t.Updated, key)
			default:
				t.Unchanged++
			}
		}
		var keys = map[string][]string{}
		for i, r := range in.Organizations {
			c, err := upsertOrganization(ctx, tx, r.Value)
			if err != nil {
				without.Organizations = drop(in.Organizations, i)
				return &rowError{r.Ref, "organizations", strings.ToLower(strings.TrimSpace(r.Value.Name)), err}
			}
			key := strings.ToLower(strings.TrimSpace(r.Value.Name))
			keys["organizations"] = append(keys["organizations"], key)
			note("organizations", r.Value.Name, c)
		}
		for i, r := range in.Locations {
			orgID, err := lookupID(ctx, tx, "organization", `SELECT id FROM organizations WHERE lower(name) = lower($1)`, r.Value.Organization)
			var c change
			if err == nil {
				c, err = upsertLocation(ctx, tx, r.Value, orgID)
			}
			if err != nil {
				without.Locations = drop(in.Locations, i)
				return &rowError{r.Ref, "locations", LocationCode(r.Value.Code), err}
			}
			keys["locations"] = append(keys["locations"], LocationCode(r.Value.Code))
			note("locations", LocationCode(r.Value.Code), c)
		}
		for i, r := range in.Trucks {
			c, err := upsertTruck(ctx, tx, r.Value)
			if err != nil {
				without.Trucks = drop(in.Trucks, i)
				return &rowError{r.Ref, "trucks", NormalizeTruckNumber(r.Value.Number), err}
			}
			keys["trucks"] = append(keys["trucks"], NormalizeTruckNumber(r.Value.Number))
			note("trucks", NormalizeTruckNumber(r.Value.Number), c)
		}
		for i, r := range in.Drivers {
			c, err := upsertDriver(ctx, tx, r.Value)
			if err != nil {
				without.Drivers = drop(in.Drivers, i)
				return &rowError{r.Ref, "drivers", NormalizePhone(r.Value.Phone), err}
			}
			keys["drivers"] = append(keys["drivers"], NormalizePhone(r.Value.Phone))
			note("drivers", r.Value.Name, c)
		}
		for i, r := range in.Users {
			c, err := upsertUser(ctx, tx, r.Value)
			if err != nil {
				without.Users = drop(in.Users, i)
				return &rowError{r.Ref, "users", r.Value.SlackUserID, err}
			}
			keys["users"] = append(keys["users"], r.Value.SlackUserID)
			note("users", r.Value.SlackUserID, c)
		}
		for _, table := range syncTables {
			if !contains(present, table) || len(keys[table]) == 0 {
				continue
			}
			gone, err := deactivateMissing(ctx, tx, table, append(keys[table], in.Keep[table]...))
			if err != nil {
				return err
			}
			diff.table(table).Deactivated = gone
		}
		if diff.Changed() > 0 {
			counts := map[string]any{}
			for name, t := range diff {
				counts[name] = map[string]int{"inserted": len(t.Inserted), "updated": len(t.Updated), "deactivated": len(t.Deactivated)}
			}
			if err := appendEvent(ctx, tx, Event{Actor: actor, Action: "sheets.sync", Subject: "master data", Payload: counts}); err != nil {
				return err
			}
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	return diff, without, err
}

func drop[T any](rows []Row[T], i int) []Row[T] {
	out := make([]Row[T], 0, len(rows)-1)
	out = append(out, rows[:i]...)
	return append(out, rows[i+1:]...)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// deactivateMissing deactivates the rows of table whose key the sheet no
// longer has, and returns their keys. Trucks LocoNav reported that nobody
// registered ('unknown') are not the sheet's to deactivate.
func deactivateMissing(ctx context.Context, tx pgx.Tx, table string, keys []string) ([]string, error) {
	var q string
	switch table {
	case "organizations":
		q = `UPDATE organizations SET active = false, updated_at = now() WHERE active AND lower(name) <> ALL($1) RETURNING name`
	case "locations":
		q = `UPDATE locations SET active = false, updated_at = now() WHERE active AND code <> ALL($1) RETURNING code`
	case "trucks":
		q = `UPDATE trucks SET status = 'inactive', updated_at = now() WHERE status IN ('active', 'maintenance') AND number <> ALL($1) RETURNING number`
	case "drivers":
		q = `UPDATE drivers SET active = false, truck_id = NULL, updated_at = now() WHERE active AND phone <> ALL($1) RETURNING name`
	case "users":
		q = `UPDATE users SET active = false, updated_at = now() WHERE active AND slack_user_id <> ALL($1) RETURNING slack_user_id`
	default:
		return nil, fmt.Errorf("store: sync: unknown table %q", table)
	}
	rows, err := tx.Query(ctx, q, keys)
	if err != nil {
		return nil, fmt.Errorf("store: sync: deactivate %s: %w", table, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SyncReport is one sync's result, for sync_status.
type SyncReport struct {
	Source    string
	StartedAt time.Time
	Duration  time.Duration
	RowsRead  int
	Diff      SyncDiff
	Problems  []string // bad rows: "Trucks row 12: …"
	Err       error    // the sync failed as a whole
	// News is set by RecordSync's caller when the problems are a set the
	// admins were not told of yet.
	News bool
}

// ProblemsHash names a set of problems, so that the same set is reported
// once.
func (r SyncReport) ProblemsHash() string {
	if len(r.Problems) == 0 && r.Err == nil {
		return ""
	}
	h := sha256.New()
	for _, p := range r.Problems {
		h.Write([]byte(p + "\n"))
	}
	if r.Err != nil {
		h.Write([]byte("error: " + r.Err.Error()))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// RecordSync stores a sync's result in sync_status, and reports whether its
// problems are news: a set not yet notified.
func (db *DB) RecordSync(ctx context.Context, r SyncReport) (news bool, err error) {
	problems, _ := json.Marshal(r.Problems)
	if r.Problems == nil {
		problems = []byte("[]")
	}
	deactivated := 0
	for _, t := range r.Diff {
		deactivated += len(t.Deactivated)
	}
	errText, succeeded := "", &r.StartedAt
	if r.Err != nil {
		errText, succeeded = r.Err.Error(), nil
	}
	hash := r.ProblemsHash()
	var notified string
	err = db.conn.QueryRow(ctx, `INSERT INTO sync_status AS s (source, last_started_at, last_succeeded_at, last_error, rows_read,
			rows_rejected, rows_changed, rows_deactivated, duration_ms, problems, problems_hash, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
		ON CONFLICT (source) DO UPDATE SET last_started_at = EXCLUDED.last_started_at,
			last_succeeded_at = coalesce(EXCLUDED.last_succeeded_at, s.last_succeeded_at), last_error = EXCLUDED.last_error,
			rows_read = EXCLUDED.rows_read, rows_rejected = EXCLUDED.rows_rejected, rows_changed = EXCLUDED.rows_changed,
			rows_deactivated = EXCLUDED.rows_deactivated, duration_ms = EXCLUDED.duration_ms, problems = EXCLUDED.problems,
			problems_hash = EXCLUDED.problems_hash, updated_at = now()
		RETURNING s.notified_hash`,
		r.Source, r.StartedAt, succeeded, errText, r.RowsRead, len(r.Problems), r.Diff.Changed(), deactivated,
		r.Duration.Milliseconds(), problems, hash).Scan(&notified)
	if err != nil {
		return false, fmt.Errorf("store: record sync: %w", err)
	}
	return hash != "" && hash != notified, nil
}

// MarkSyncNotified records that the admins were told of the current
// problems.
func (db *DB) MarkSyncNotified(ctx context.Context, source, hash string) error {
	_, err := db.conn.Exec(ctx, `UPDATE sync_status SET notified_hash = $2 WHERE source = $1`, source, hash)
	if err != nil {
		return fmt.Errorf("store: mark sync notified: %w", err)
	}
	return nil
}

// AdminUserIDs are the Slack ids of the active admins in the users table.
func (db *DB) AdminUserIDs(ctx context.Context) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT slack_user_id FROM users WHERE role = 'admin' AND active ORDER BY slack_user_id`)
	if err != nil {
		return nil, fmt.Errorf("store: admins: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
