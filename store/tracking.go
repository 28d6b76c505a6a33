package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// FixInput is one GPS fix to record.
type FixInput struct {
	TruckNumber   string // normalised (NormalizeTruckNumber)
	VehicleNumber string // as the source wrote it, kept for unknown trucks
	Fix
	Source     string // webhook, poll, replay
	ReceivedAt time.Time
	// StreamID is the Redis stream id that brought the fix, carried as the
	// correlation id to whoever watches positions live.
	StreamID string
}

// RecordResult says what RecordFixes did.
type RecordResult struct {
	Stored     int     // fixes new to the store
	Duplicates int     // fixes already stored (redelivery, duplicates)
	Rejected   int     // fixes without a valid position or time
	Rewound    int     // trucks whose fold was replayed because of a late fix
	Alerts     []Alert // alerts created: notify these
	Visits     int     // visit entries and exits decided
	// Changed are the trucks whose visits this batch changed (entries and
	// exits, or a refold after a late fix): the trucks whose trips' milestones
	// may have moved.
	Changed []string
	// TripEvents are the trip events the batch caused, with Rules.Follow.
	TripEvents []TripEvent
	// FollowErr is why following failed, if it did: the fixes are stored
	// all the same, and the follow-trips job catches up.
	FollowErr error
	// Positions are the fixes new to the store, by truck in time order
	// (TruckNumber is the fleet's spelling), for live watchers.
	Positions []FixInput
}

// trackLockSpace is the first key of the per-truck advisory locks that make
// replicas fold one truck's fixes one at a time.
const trackLockSpace = 0x7774

type truckRef struct{ number, raw string }

// partitionDays remembers which daily partitions exist, so that the hot path
// does not ask every batch. It is per DB: a test's rolled-back transaction
// takes its partitions with it, and its DB with them.
type partitionDays struct {
	mu   sync.Mutex
	days map[string]bool
}

// ensureDays makes the partitions for the fixes' days, in their own short
// transaction: creating a partition locks the parent table, which must not
// be held while a batch waits for per-truck locks.
func (db *DB) ensureDays(ctx context.Context, in []FixInput) error {
	db.parts.mu.Lock()
	defer db.parts.mu.Unlock()
	if db.parts.days == nil {
		db.parts.days = map[string]bool{}
	}
	var missing []string
	for _, f := range in {
		d := f.At.UTC().Format(time.DateOnly)
		if !db.parts.days[d] && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ensure := func() error {
		_, err := db.conn.Exec(ctx, `SELECT ensure_position_partition(d::date) FROM unnest($1::text[]) d`, missing)
		return err
	}
	err := ensure()
	if partitionRace(err) {
		// Another replica created the day's partition at the same moment
		// (CREATE TABLE IF NOT EXISTS does not serialise with a concurrent
		// one); it exists now, so asking again finds it.
		err = ensure()
	}
	if err != nil {
		return fmt.Errorf("store: position partitions %v: %w", missing, err)
	}
	for _, d := range missing {
		db.parts.days[d] = true
	}
	return nil
}

// partitionRace reports whether err is a concurrent creation of the same
// partition: duplicate_table, or unique_violation on the catalog.
func partitionRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P07" || pe.Code == "23505")
}

func (db *DB) forgetDays() {
	db.parts.mu.Lock()
	defer db.parts.mu.Unlock()
	clear(db.parts.days)
}

// RecordFixes stores GPS fixes and folds them into geofence visits, overspeed
// and idle alerts, and each truck's current position, in one transaction.
//
// It is idempotent: a fix already stored (same truck and time) is counted as
// a duplicate and changes nothing. Fixes may arrive late and out of order: a
// fix older than the truck's newest rewinds the truck's fold to the fix
// before it and folds forward again, so the visits are those of the fixes in
// time order. A vehicle the fleet does not know is registered as unknown and
// an alert is raised for admins; its fixes are kept.
func (db *DB) RecordFixes(ctx context.Context, in []FixInput, rules Rules) (RecordResult, error) {
	rules = rules.withDefaults()
	var res RecordResult
	valid := make([]FixInput, 0, len(in))
	for _, f := range in {
		if f.Validate() != nil || f.At.IsZero() || NormalizeTruckNumber(f.TruckNumber) == "" {
			res.Rejected++
			continue
		}
		f.TruckNumber = NormalizeTruckNumber(f.TruckNumber)
		valid = append(valid, f)
	}
	if len(valid) == 0 {
		return res, nil
	}
	if err := db.ensureDays(ctx, valid); err != nil {
		return res, err
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		r, err := recordFixes(ctx, tx, valid, rules)
		r.Rejected = res.Rejected
		if err == nil && rules.Follow != nil && len(r.Changed) > 0 {
			now := time.Now
			if rules.Now != nil {
				now = rules.Now
			}
			r.TripEvents, r.FollowErr = db.followInTx(ctx, tx, r.Changed, now(), *rules.Follow)
		}
		res = r
		return err
	})
	if err != nil {
		return RecordResult{Rejected: res.Rejected}, fmt.Errorf("store: record fixes: %w", err)
	}
	return res, nil
}

// seqFix is one fix of a truck's sequence to fold: new, or already stored
// and being folded again after a rewind.
type seqFix struct {
	in     FixInput
	stored bool
	state  []byte // the fold's state after this fix
	ord    int    // its row in the batch's geofence query
}

// recordFixes is RecordFixes' work inside its transaction, phase by
// phase; the order of the phases is the order of the statements.
func recordFixes(ctx context.Context, tx pgx.Tx, in []FixInput, rules Rules) (RecordResult, error) {
	var res RecordResult
	ids, unknown, err := resolveTrucks(ctx, tx, truckRefs(in))
	if err != nil {
		return res, err
	}
	res.Alerts = append(res.Alerts, unknown...)
	byTruck := map[int64][]FixInput{}
	truckIDs := groupByTruck(in, ids, byTruck, &res)
	if err := lockTrucks(ctx, tx, truckIDs); err != nil {
		return res, err
	}
	if err := dropStored(ctx, tx, in, byTruck, &res); err != nil {
		return res, err
	}
	if len(byTruck) == 0 {
		return res, nil
	}
	for _, id := range truckIDs {
		res.Positions = append(res.Positions, byTruck[id]...)
	}
	folds := map[int64]*truckFold{}
	active, err := foldStarts(ctx, tx, byTruck, folds, &res)
	if err != nil {
		return res, err
	}
	inside, err := geofencesOf(ctx, tx, active, folds)
	if err != nil {
		return res, err
	}
	effects, err := foldTrucks(active, folds, inside, rules, &res)
	if err != nil {
		return res, err
	}
	if err := writePositions(ctx, tx, active, func(id int64) []seqFix { return folds[id].seq }); err != nil {
		return res, err
	}
	res.Stored += countNew(active, folds)
	created, visits, err := applyEffects(ctx, tx, effects)
	if err != nil {
		return res, err
	}
	res.Alerts = append(res.Alerts, created...)
	res.Visits = visits
	newest := newestFixes(active, folds, byTruck)
	if err := updateTrucks(ctx, tx, newest); err != nil {
		return res, err
	}
	if err := endOfflineAlerts(ctx, tx, newest); err != nil {
		return res, err
	}
	return res, nil
}

// truckRefs names the batch's trucks, one per fix.
func truckRefs(in []FixInput) []truckRef {
	refs := make([]truckRef, len(in))
	for i, f := range in {
		refs[i] = truckRef{f.TruckNumber, f.VehicleNumber}
	}
	return refs
}

// groupByTruck groups the fixes into byTruck, in time order, without
// duplicates inside the batch, and returns the trucks in id order.
func groupByTruck(in []FixInput, ids map[string]int64, byTruck map[int64][]FixInput, res *RecordResult) []int64 {
	for _, f := range in {
		id := ids[f.TruckNumber]
		byTruck[id] = append(byTruck[id], f)
	}
	truckIDs := make([]int64, 0, len(byTruck))
	for id, fs := range byTruck {
		slices.SortStableFunc(fs, func(a, b FixInput) int { return a.At.Compare(b.At) })
		fs = slices.CompactFunc(fs, func(a, b FixInput) bool { return a.At.Equal(b.At) })
		res.Duplicates += len(byTruck[id]) - len(fs)
		byTruck[id] = fs
		truckIDs = append(truckIDs, id)
	}
	slices.Sort(truckIDs)
	return truckIDs
}

// lockTrucks takes the trucks' fold locks until the transaction ends.
func lockTrucks(ctx context.Context, tx pgx.Tx, truckIDs []int64) error {
	// One truck's fold at a time across replicas; locks in id order.
	// Advisory locks are database-wide: the schema is part of the key, so
	// deployments (and tests) in other schemas of the database never wait
	// on our trucks.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema()) # $1::int, id::int)
		FROM (SELECT id FROM unnest($2::bigint[]) AS id ORDER BY id) s`, trackLockSpace, truckIDs); err != nil {
		return fmt.Errorf("lock trucks: %w", err)
	}
	return nil
}

// dropStored drops from byTruck the fixes already stored, and the trucks
// left with none.
func dropStored(ctx context.Context, tx pgx.Tx, in []FixInput, byTruck map[int64][]FixInput, res *RecordResult) error {
	var keyT []int64
	var keyAt []time.Time
	minAt, maxAt := in[0].At, in[0].At
	for id, fs := range byTruck {
		for _, f := range fs {
			keyT, keyAt = append(keyT, id), append(keyAt, f.At)
			minAt, maxAt = minTime(minAt, f.At), maxTime(maxAt, f.At)
		}
	}
	rows, err := tx.Query(ctx, `SELECT v.truck_id, v.fix_time FROM vehicle_positions v
		JOIN unnest($1::bigint[], $2::timestamptz[]) AS k(t, at) ON v.truck_id = k.t AND v.fix_time = k.at
		WHERE v.fix_time BETWEEN $3 AND $4`, keyT, keyAt, minAt, maxAt)
	if err != nil {
		return fmt.Errorf("find duplicates: %w", err)
	}
	type key struct {
		t  int64
		at int64
	}
	seen := map[key]bool{}
	var kt int64
	var kat time.Time
	if _, err := pgx.ForEachRow(rows, []any{&kt, &kat}, func() error {
		seen[key{kt, kat.UnixNano()}] = true
		return nil
	}); err != nil {
		return fmt.Errorf("find duplicates: %w", err)
	}
	for id, fs := range byTruck {
		fresh := fs[:0]
		for _, f := range fs {
			if seen[key{id, f.At.UnixNano()}] {
				res.Duplicates++
				continue
			}
			fresh = append(fresh, f)
		}
		if len(fresh) == 0 {
			delete(byTruck, id)
			continue
		}
		byTruck[id] = fresh
	}
	return nil
}

// truckFold is one truck's fold: where it starts and the fixes to fold.
type truckFold struct {
	id      int64
	number  string
	state   trackState
	stateAt *time.Time
	seq     []seqFix
}

// foldStarts reads where each truck's fold starts: its cached state when
// every new fix is newer (the common case), else the fix before the oldest
// new one (a rewind). It fills folds and returns their trucks in id order.
func foldStarts(ctx context.Context, tx pgx.Tx, byTruck map[int64][]FixInput, folds map[int64]*truckFold, res *RecordResult) ([]int64, error) {
	active := make([]int64, 0, len(byTruck))
	for id := range byTruck {
		active = append(active, id)
	}
	slices.Sort(active)
	rows, err := tx.Query(ctx, `SELECT id, number, track_state, track_state_at FROM trucks WHERE id = ANY($1)`, active)
	if err != nil {
		return nil, fmt.Errorf("load track state: %w", err)
	}
	var (
		tid     int64
		tnum    string
		tstate  []byte
		tstatAt *time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&tid, &tnum, &tstate, &tstatAt}, func() error {
		tf := &truckFold{id: tid, number: tnum, stateAt: tstatAt}
		if len(tstate) > 0 {
			if err := json.Unmarshal(tstate, &tf.state); err != nil {
				return fmt.Errorf("truck %s: track state: %w", tnum, err)
			}
		}
		folds[tid] = tf
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load track state: %w", err)
	}
	for _, id := range active {
		tf := folds[id]
		news := byTruck[id]
		if tf.stateAt == nil || news[0].At.After(*tf.stateAt) {
			for _, f := range news {
				tf.seq = append(tf.seq, seqFix{in: f})
			}
			continue
		}
		// A late fix: rewind.
		res.Rewound++
		res.Changed = append(res.Changed, tf.number)
		if err := rewind(ctx, tx, tf.id, news, &tf.state, &tf.seq); err != nil {
			return nil, fmt.Errorf("truck %s: rewind: %w", tf.number, err)
		}
	}
	return active, nil
}

// geofencesOf says which places contain each fix to fold, by its ord: one
// query for the batch.
func geofencesOf(ctx context.Context, tx pgx.Tx, active []int64, folds map[int64]*truckFold) ([][]int64, error) {
	var lat, lon []float64
	for _, id := range active {
		for i := range folds[id].seq {
			sf := &folds[id].seq[i]
			sf.ord = len(lat)
			lat, lon = append(lat, sf.in.Lat), append(lon, sf.in.Lon)
		}
	}
	inside := make([][]int64, len(lat))
	rows, err := tx.Query(ctx, `SELECT p.ord, l.id
		FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lat, lon, ord)
		JOIN locations l ON l.active AND ST_Covers(l.boundary, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography)
		ORDER BY p.ord, l.id`, lat, lon)
	if err != nil {
		return nil, fmt.Errorf("geofences: %w", err)
	}
	var ord, locID int64
	if _, err := pgx.ForEachRow(rows, []any{&ord, &locID}, func() error {
		inside[ord-1] = append(inside[ord-1], locID)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("geofences: %w", err)
	}
	return inside, nil
}

// foldTrucks folds each truck's fixes, keeping the state after each, and
// returns what the fold decided, to write.
func foldTrucks(active []int64, folds map[int64]*truckFold, inside [][]int64, rules Rules, res *RecordResult) ([]truckEffect, error) {
	var err error
	var effects []truckEffect
	for _, id := range active {
		tf := folds[id]
		st := tf.state
		for i := range tf.seq {
			sf := &tf.seq[i]
			var effs []effect
			st, effs = fold(st, foldFix{At: sf.in.At, Point: sf.in.Point, SpeedKmh: sf.in.SpeedKmh,
				Ignition: sf.in.Ignition, Inside: inside[sf.ord]}, rules)
			if sf.state, err = json.Marshal(st); err != nil {
				return effects, err
			}
			for _, e := range effs {
				effects = append(effects, truckEffect{truckID: id, number: tf.number, effect: e})
				if (e.Kind == effEnter || e.Kind == effExit) && !slices.Contains(res.Changed, tf.number) {
					res.Changed = append(res.Changed, tf.number)
				}
			}
		}
		tf.state = st
	}
	return effects, nil
}

// countNew counts the fixes folded that were not stored before.
func countNew(active []int64, folds map[int64]*truckFold) int {
	n := 0
	for _, id := range active {
		for _, sf := range folds[id].seq {
			if !sf.stored {
				n++
			}
		}
	}
	return n
}

// truckUpdates is, per truck, the columns its cached state and current
// position are updated from, and the time of its oldest new fix.
type truckUpdates struct {
	upID     []int64
	upState  []string
	upAt     []time.Time
	upLat    []float64
	upLon    []float64
	upSpeed  []*float64
	upHead   []*float64
	upIgn    []*bool
	firstNew []time.Time
}

// newestFixes gathers each truck's newest fix and folded state.
func newestFixes(active []int64, folds map[int64]*truckFold, byTruck map[int64][]FixInput) truckUpdates {
	var u truckUpdates
	for _, id := range active {
		tf := folds[id]
		// A rewind folds up to the newest fix, so the last of the sequence is
		// the truck's newest; the WHERE below guards it all the same.
		last := tf.seq[len(tf.seq)-1]
		u.upID = append(u.upID, id)
		u.upState = append(u.upState, string(last.state))
		u.upAt = append(u.upAt, last.in.At)
		u.upLat, u.upLon = append(u.upLat, last.in.Lat), append(u.upLon, last.in.Lon)
		u.upSpeed, u.upHead, u.upIgn = append(u.upSpeed, last.in.SpeedKmh), append(u.upHead, last.in.Heading), append(u.upIgn, last.in.Ignition)
		u.firstNew = append(u.firstNew, byTruck[id][0].At)
	}
	return u
}

// updateTrucks moves the trucks' cached state and current position to
// their newest fix.
func updateTrucks(ctx context.Context, tx pgx.Tx, u truckUpdates) error {
	if _, err := tx.Exec(ctx, `UPDATE trucks t SET track_state = u.st::jsonb, track_state_at = u.at,
			position = ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography, position_at = u.at,
			speed_kmh = u.sp, heading = u.hd, ignition = u.ig, updated_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::bool[])
			AS u(id, st, at, lat, lon, sp, hd, ig)
		WHERE t.id = u.id AND (t.position_at IS NULL OR t.position_at <= u.at)`,
		u.upID, u.upState, u.upAt, u.upLat, u.upLon, u.upSpeed, u.upHead, u.upIgn); err != nil {
		return fmt.Errorf("update trucks: %w", err)
	}
	return nil
}

// endOfflineAlerts ends the trucks' device-offline alerts: a fix ends one.
func endOfflineAlerts(ctx context.Context, tx pgx.Tx, u truckUpdates) error {
	if _, err := tx.Exec(ctx, `UPDATE alerts a SET ended_at = u.at
		FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, at)
		WHERE a.truck_id = u.id AND a.kind = 'device_offline' AND a.ended_at IS NULL AND a.started_at < u.at`,
		u.upID, u.firstNew); err != nil {
		return fmt.Errorf("end offline alerts: %w", err)
	}
	return nil
}

// rewind undoes what the fold decided after the fix before the oldest new
// one, and queues every stored fix since then to be folded again with the
// new ones.
func rewind(ctx context.Context, tx pgx.Tx, truckID int64, news []FixInput, state *trackState, seq *[]seqFix) error {
	*state = trackState{}
	var cpAt *time.Time
	var cpState []byte
	err := tx.QueryRow(ctx, `SELECT fix_time, track_state FROM vehicle_positions
		WHERE truck_id = $1 AND fix_time < $2 ORDER BY fix_time DESC LIMIT 1`, truckID, news[0].At).Scan(&cpAt, &cpState)
	if err != nil && !noRows(err) {
		return err
	}
	from := time.Time{}
	if cpAt != nil {
		from = *cpAt
		if len(cpState) > 0 {
			if err := json.Unmarshal(cpState, state); err != nil {
				return fmt.Errorf("checkpoint state: %w", err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM geofence_visits WHERE truck_id = $1 AND enter_confirmed_at > $2`, truckID, from); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE geofence_visits SET exited_at = NULL, exit_confirmed_at = NULL
		WHERE truck_id = $1 AND exit_confirmed_at > $2`, truckID, from); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT fix_time, ST_Y(position::geometry), ST_X(position::geometry), speed_kmh, heading, ignition, source, received_at
		FROM vehicle_positions WHERE truck_id = $1 AND fix_time > $2 ORDER BY fix_time`, truckID, from)
	if err != nil {
		return err
	}
	stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seqFix, error) {
		sf := seqFix{stored: true}
		var sp, hd *float32
		err := r.Scan(&sf.in.At, &sf.in.Lat, &sf.in.Lon, &sp, &hd, &sf.in.Ignition, &sf.in.Source, &sf.in.ReceivedAt)
		sf.in.SpeedKmh, sf.in.Heading = widen(sp), widen(hd)
		return sf, err
	})
	if err != nil {
		return err
	}
	merged := make([]seqFix, 0, len(stored)+len(news))
	for _, f := range news {
		merged = append(merged, seqFix{in: f})
	}
	merged = append(merged, stored...)
	slices.SortStableFunc(merged, func(a, b seqFix) int { return a.in.At.Compare(b.in.At) })
	*seq = merged
	return nil
}

// writePositions inserts the new fixes with their fold state, and updates
// the state of stored fixes folded again.
func writePositions(ctx context.Context, tx pgx.Tx, trucks []int64, seqOf func(int64) []seqFix) error {
	var (
		nT, sT     []int64
		nAt, sAt   []time.Time
		nLat, nLon []float64
		nSp, nHd   []*float64
		nIg        []*bool
		nSrc       []string
		nRcv       []time.Time
		nSt, sSt   []string
	)
	for _, id := range trucks {
		for _, sf := range seqOf(id) {
			if sf.stored {
				sT, sAt, sSt = append(sT, id), append(sAt, sf.in.At), append(sSt, string(sf.state))
				continue
			}
			rcv := sf.in.ReceivedAt
			if rcv.IsZero() {
				rcv = time.Now()
			}
			nT, nAt, nSt = append(nT, id), append(nAt, sf.in.At), append(nSt, string(sf.state))
			nLat, nLon = append(nLat, sf.in.Lat), append(nLon, sf.in.Lon)
			nSp, nHd, nIg = append(nSp, sf.in.SpeedKmh), append(nHd, sf.in.Heading), append(nIg, sf.in.Ignition)
			nSrc, nRcv = append(nSrc, sf.in.Source), append(nRcv, rcv)
		}
	}
	if len(nT) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO vehicle_positions (truck_id, fix_time, position, speed_kmh, heading, ignition, source, received_at, track_state)
			SELECT t, at, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, sp, hd, ig, src, rcv, st::jsonb
			FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::bool[], $8::text[], $9::timestamptz[], $10::text[])
				AS u(t, at, lat, lon, sp, hd, ig, src, rcv, st)
			ON CONFLICT DO NOTHING`, nT, nAt, nLat, nLon, nSp, nHd, nIg, nSrc, nRcv, nSt); err != nil {
			return fmt.Errorf("insert positions: %w", err)
		}
	}
	if len(sT) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE vehicle_positions v SET track_state = u.st::jsonb
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u(t, at, st)
			WHERE v.truck_id = u.t AND v.fix_time = u.at`, sT, sAt, sSt); err != nil {
			return fmt.Errorf("update fold state: %w", err)
		}
	}
	return nil
}

type truckEffect struct {
	truckID int64
	number  string
	effect
}

// applyEffects writes visits, in order (an enter, exit and enter again of
// one place in a batch must happen in that order), then the alerts they and
// the episodes call for, in two statements whatever their number.
func applyEffects(ctx context.Context, tx pgx.Tx, effs []truckEffect) ([]Alert, int, error) {
	var raise []*Alert
	var endKey []string
	var endAt []time.Time
	var endDetail []string
	var endValue []float64
	visits := 0
	for _, e := range effs {
		var a *Alert
		switch e.Kind {
		case effEnter, effExit:
			visits++
			trip, err := activeTrip(ctx, tx, e.truckID, e.At)
			if err != nil {
				return nil, 0, err
			}
			var code string
			if e.Kind == effEnter {
				err = tx.QueryRow(ctx, `WITH v AS (
						INSERT INTO geofence_visits (truck_id, location_id, trip_id, entered_at, enter_confirmed_at)
						VALUES ($1, $2, $3, $4, $5)
						ON CONFLICT (truck_id, location_id, entered_at) DO UPDATE SET enter_confirmed_at = EXCLUDED.enter_confirmed_at)
					SELECT code FROM locations WHERE id = $2`, e.truckID, e.Loc, trip, e.At, e.Confirmed).Scan(&code)
			} else {
				err = tx.QueryRow(ctx, `WITH v AS (
						UPDATE geofence_visits SET exited_at = $4, exit_confirmed_at = $5
						WHERE truck_id = $1 AND location_id = $2 AND entered_at = $3)
					SELECT code FROM locations WHERE id = $2`, e.truckID, e.Loc, e.Entered, e.At, e.Confirmed).Scan(&code)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("visit: %w", err)
			}
			if trip == nil {
				continue // arrivals and departures matter to people during trips
			}
			kind := AlertGeofenceEnter
			if e.Kind == effExit {
				kind = AlertGeofenceExit
			}
			loc := e.Loc
			a = &Alert{Kind: kind, TripID: trip, LocationID: &loc, LocationCode: code,
				DedupKey:  fmt.Sprintf("%s:%d:%d:%s", kind, e.truckID, e.Loc, e.At.UTC().Format(time.RFC3339)),
				StartedAt: e.At, Details: map[string]any{"location": code}}
		case effOverspeedStart:
			a = &Alert{Kind: AlertOverspeed, StartedAt: e.At,
				DedupKey: fmt.Sprintf("%s:%d:%s", AlertOverspeed, e.truckID, e.At.UTC().Format(time.RFC3339)),
				Details:  map[string]any{"speed_kmh": e.Value}}
		case effIdleStart:
			a = &Alert{Kind: AlertIdle, StartedAt: e.At,
				DedupKey: fmt.Sprintf("%s:%d:%s", AlertIdle, e.truckID, e.At.UTC().Format(time.RFC3339)),
				Details:  map[string]any{"idle_minutes": int(e.Value)}}
		case effOverspeedEnd, effIdleEnd:
			kind, detail := AlertOverspeed, "max_speed_kmh"
			if e.Kind == effIdleEnd {
				kind, detail = AlertIdle, "idle_minutes"
			}
			endKey = append(endKey, fmt.Sprintf("%s:%d:%s", kind, e.truckID, e.Start.UTC().Format(time.RFC3339)))
			endAt, endDetail, endValue = append(endAt, e.At), append(endDetail, detail), append(endValue, e.Value)
			continue
		}
		a.TruckID, a.TruckNumber, a.Source = e.truckID, e.number, SourceRule
		p := e.Point
		a.Position = &p
		raise = append(raise, a)
	}
	created, err := insertAlerts(ctx, tx, raise)
	if err != nil {
		return nil, 0, err
	}
	if len(endKey) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE alerts a SET ended_at = u.at, details = a.details || jsonb_build_object(u.k, u.v)
			FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::float8[]) AS u(key, at, k, v)
			WHERE a.dedup_key = u.key`, endKey, endAt, endDetail, endValue); err != nil {
			return nil, 0, fmt.Errorf("end alerts: %w", err)
		}
	}
	return created, visits, nil
}

// activeTrip is the trip a truck is on at a time: ongoing or delayed, or
// planned to leave within the surrounding day.
func activeTrip(ctx context.Context, tx pgx.Tx, truckID int64, at time.Time) (*int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM trips WHERE truck_id = $1
		AND (status IN ('ongoing', 'delayed')
		     OR status = 'planned' AND scheduled_departure BETWEEN $2::timestamptz - interval '24 hours' AND $2::timestamptz + interval '12 hours')
		ORDER BY (status <> 'planned') DESC, scheduled_departure DESC LIMIT 1`, truckID, at).Scan(&id)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("active trip: %w", err)
	}
	return &id, nil
}

// resolveTrucks maps normalised numbers to truck ids, matching the fleet's
// number or LocoNav's spelling of it. Numbers no truck has are registered as
// unknown trucks, each with an alert for admins.
func resolveTrucks(ctx context.Context, tx pgx.Tx, refs []truckRef) (map[string]int64, []Alert, error) {
	ids := map[string]int64{}
	var numbers []string
	raw := map[string]string{}
	for _, r := range refs {
		if _, ok := raw[r.number]; !ok {
			numbers = append(numbers, r.number)
			raw[r.number] = r.raw
		}
	}
	rows, err := tx.Query(ctx, `SELECT id, number, upper(regexp_replace(loconav_number, '[^A-Za-z0-9]', '', 'g'))
		FROM trucks WHERE number = ANY($1)
		   OR (loconav_number <> '' AND upper(regexp_replace(loconav_number, '[^A-Za-z0-9]', '', 'g')) = ANY($1))`, numbers)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve trucks: %w", err)
	}
	var id int64
	var number, lnum string
	if _, err := pgx.ForEachRow(rows, []any{&id, &number, &lnum}, func() error {
		if _, want := raw[number]; want {
			ids[number] = id // the fleet's own number wins
		}
		if _, want := raw[lnum]; want {
			if _, taken := ids[lnum]; !taken {
				ids[lnum] = id
			}
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("resolve trucks: %w", err)
	}
	var created []Alert
	for _, n := range numbers {
		if _, ok := ids[n]; ok {
			continue
		}
		var newID int64
		err := tx.QueryRow(ctx, `INSERT INTO trucks (number, loconav_number, status) VALUES ($1, $2, 'unknown')
			ON CONFLICT (number) DO NOTHING RETURNING id`, n, raw[n]).Scan(&newID)
		if noRows(err) {
			// Another replica registered it first.
			if err := tx.QueryRow(ctx, `SELECT id FROM trucks WHERE number = $1`, n).Scan(&newID); err != nil {
				return nil, nil, fmt.Errorf("resolve truck %s: %w", n, err)
			}
			ids[n] = newID
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("register unknown truck %s: %w", n, err)
		}
		ids[n] = newID
		a := Alert{TruckID: newID, TruckNumber: n, Kind: AlertUnknownVehicle, Source: SourceRule,
			DedupKey: AlertUnknownVehicle + ":" + n, StartedAt: time.Now(),
			Details: map[string]any{"vehicle_number": raw[n], "hint": "add this truck to the fleet sheet, or fix its number in LocoNav"}}
		if _, err := insertAlerts(ctx, tx, []*Alert{&a}); err != nil {
			return nil, nil, err
		}
		if err := appendEvent(ctx, tx, Event{Actor: "ingest", Action: "truck.unknown_registered", Subject: "truck:" + n,
			Payload: map[string]string{"vehicle_number": raw[n]}}); err != nil {
			return nil, nil, err
		}
		created = append(created, a)
	}
	return ids, created, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
