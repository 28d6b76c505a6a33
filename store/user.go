package store

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// User roles, from least to most trusted.
const (
	RoleViewer     = "viewer"
	RoleDispatcher = "dispatcher"
	RoleAdmin      = "admin"
)

// User is a Slack user known to Watch Tower, with the role that decides what
// they may do.
type User struct {
	SlackUserID string
	DisplayName string
	Role        string
}

// Validate checks a user before it is stored.
func (u User) Validate() error {
	switch u.Role {
	case RoleViewer, RoleDispatcher, RoleAdmin:
	default:
		return invalidf("role %q is not one of viewer, dispatcher, admin", u.Role)
	}
	if !slackUserRE.MatchString(u.SlackUserID) {
		return invalidf("%q is not a Slack user id (U… or W…)", u.SlackUserID)
	}
	return nil
}

func upsertUser(ctx context.Context, tx pgx.Tx, u User) (change, error) {
	if err := u.Validate(); err != nil {
		return 0, err
	}
	return scanChange(tx.QueryRow(ctx, `INSERT INTO users AS x (slack_user_id, display_name, role) VALUES ($1, $2, $3)
		ON CONFLICT (slack_user_id) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role, active = true, updated_at = now()
		WHERE (x.display_name, x.role, x.active) IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.role, true)
		RETURNING (xmax = 0)`, u.SlackUserID, u.DisplayName, u.Role))
}

var slackUserRE = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// UserBySlackID returns a known user.
func (db *DB) UserBySlackID(ctx context.Context, id string) (User, error) {
	var u User
	err := db.conn.QueryRow(ctx, `SELECT slack_user_id, display_name, role FROM users WHERE slack_user_id = $1 AND active`, id).
		Scan(&u.SlackUserID, &u.DisplayName, &u.Role)
	if err != nil {
		return User{}, fmt.Errorf("store: user %q: %w", id, notFound(err))
	}
	return u, nil
}
