package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// APIKey is a program's credential for the HTTP API. The key itself is
// never stored: only its SHA-256, and its first characters to tell keys
// apart in a list.
type APIKey struct {
	ID         int64
	Name       string
	Role       string
	Prefix     string
	CreatedBy  string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// apiKeyPrefix starts every key, so that a key pasted in the wrong place is
// recognisable (and secret scanners can find it).
const apiKeyPrefix = "wt_"

var apiKeyNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// NewAPIKeySecret returns a fresh key: "wt_" and 43 characters of 256
// random bits.
func NewAPIKeySecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashAPIKey is what the store keeps of a key.
func HashAPIKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// LooksLikeAPIKey reports whether s has a key's shape, so that a request
// with garbage is refused without asking the database.
func LooksLikeAPIKey(s string) bool {
	if !strings.HasPrefix(s, apiKeyPrefix) || len(s) != len(apiKeyPrefix)+43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(apiKeyPrefix):])
	return err == nil
}

// CreateAPIKey stores a new key named name with role, created by actor, and
// returns it with its secret, which is shown once and kept nowhere. A name
// can have one live key at a time.
func (db *DB) CreateAPIKey(ctx context.Context, name, role, actor string) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if !apiKeyNameRE.MatchString(name) {
		return APIKey{}, "", fmt.Errorf("store: api key: %w", invalidf("name %q must be lower-case letters, digits, - or _, at most 63", name))
	}
	switch role {
	case RoleViewer, RoleDispatcher, RoleAdmin:
	default:
		return APIKey{}, "", fmt.Errorf("store: api key: %w", invalidf("role %q is not one of viewer, dispatcher, admin", role))
	}
	secret := NewAPIKeySecret()
	k := APIKey{Name: name, Role: role, Prefix: secret[:len(apiKeyPrefix)+6], CreatedBy: actor}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO api_keys (name, role, prefix, hash, created_by) VALUES ($1, $2, $3, $4, $5)
			RETURNING id, created_at`, k.Name, k.Role, k.Prefix, HashAPIKey(secret), actor).Scan(&k.ID, &k.CreatedAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return conflictf("%q already has a live key; revoke it first", name)
		}
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "apikey.created", Subject: "apikey:" + name,
			Payload: map[string]any{"role": role, "prefix": k.Prefix}})
	})
	if err != nil {
		return APIKey{}, "", fmt.Errorf("store: api key %q: %w", name, err)
	}
	return k, secret, nil
}

// RevokeAPIKey revokes the live key named name. Revoking a name without a
// live key is a NotFoundError.
func (db *DB) RevokeAPIKey(ctx context.Context, name, actor string) (APIKey, error) {
	var k APIKey
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
			RETURNING `+apiKeyColumns, strings.TrimSpace(name)).
			Scan(&k.ID, &k.Name, &k.Role, &k.Prefix, &k.CreatedBy, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt)
		if noRows(err) {
			return &NotFoundError{What: "live api key", Query: name}
		}
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, Event{Actor: actor, Action: "apikey.revoked", Subject: "apikey:" + k.Name,
			Payload: map[string]any{"prefix": k.Prefix}})
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("store: api key %q: %w", name, err)
	}
	return k, nil
}

const apiKeyColumns = `id, name, role, prefix, created_by, created_at, revoked_at, last_used_at`

// APIKeyBySecret returns the live key whose secret this is; ErrNotFound
// for an unknown or revoked key.
func (db *DB) APIKeyBySecret(ctx context.Context, secret string) (APIKey, error) {
	var k APIKey
	err := db.conn.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, HashAPIKey(secret)).
		Scan(&k.ID, &k.Name, &k.Role, &k.Prefix, &k.CreatedBy, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt)
	if err != nil {
		return APIKey{}, fmt.Errorf("store: api key: %w", notFound(err))
	}
	return k, nil
}

// APIKeys lists every key, live and revoked, newest first.
func (db *DB) APIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := db.conn.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := r.Scan(&k.ID, &k.Name, &k.Role, &k.Prefix, &k.CreatedBy, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: api keys: %w", err)
	}
	return keys, nil
}

// TouchAPIKey records that a key was used at t (callers throttle it).
func (db *DB) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	if _, err := db.conn.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, t); err != nil {
		return fmt.Errorf("store: touch api key: %w", err)
	}
	return nil
}
