package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Trigram thresholds for typed names, chosen on the demo fleet's 35 places:
// "esslibr" scores 0.67 against ESSLIBRA, "apapaa" 0.75 against APAPA,
// while an unrelated word scores under 0.2. A match resolves alone only
// when it is close and clearly ahead of the next candidate; otherwise the
// candidates are offered.
const (
	trgmResolve = 0.45 // at least this close to resolve
	trgmLead    = 0.15 // ahead of the runner-up by at least this
	trgmSuggest = 0.25 // close enough to be suggested
)

// fuzzyLocation finds a place by trigram similarity of its code, name and
// aliases, for typos ("esslibr", "apapaa").
func (db *DB) fuzzyLocation(ctx context.Context, q string) (Location, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+locationColumns+`, s.score FROM `+locationFrom+`,
		LATERAL (SELECT max(public.similarity(lower(x), lower($1))) AS score
			FROM unnest(array[l.code, replace(l.code, '_', ' '), l.name] || l.aliases) x) s
		WHERE s.score >= $2
		ORDER BY s.score DESC, l.code LIMIT 5`, q, trgmSuggest)
	if err != nil {
		return Location{}, fmt.Errorf("store: location %q: %w", q, err)
	}
	type scored struct {
		Location
		score float64
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scored, error) {
		var s scored
		var err error
		s.Location, err = scanLocation(r, &s.score)
		return s, err
	})
	if err != nil {
		return Location{}, fmt.Errorf("store: location %q: %w", q, err)
	}
	if len(found) > 0 && found[0].score >= trgmResolve && (len(found) == 1 || found[0].score-found[1].score >= trgmLead) {
		return found[0].Location, nil
	}
	var names []string
	for _, f := range found {
		names = append(names, f.Name+" ("+f.Code+")")
	}
	if len(found) > 1 && found[0].score >= trgmResolve {
		return Location{}, fmt.Errorf("store: location: %w", &AmbiguousError{Query: q, Candidates: names})
	}
	return Location{}, fmt.Errorf("store: location: %w", &NotFoundError{What: "place", Query: q, Suggestions: names})
}

// truckSuggestions are the plates closest to a number that matched none.
func (db *DB) truckSuggestions(ctx context.Context, n string) []string {
	rows, err := db.conn.Query(ctx, `SELECT number FROM trucks
		WHERE public.similarity(number, $1) >= 0.3 ORDER BY public.similarity(number, $1) DESC, number LIMIT 3`, n)
	if err != nil {
		return nil
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil
	}
	return names
}
