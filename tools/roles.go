package tools

import (
	"context"
	"errors"
	"strings"

	"github.com/watchtower-fleet/watchtower/store"
)

// Roles says who is what: WATCHTOWER_ADMINS are always admins, the users
// table gives everyone else their role, and unknown users are viewers.
type Roles struct {
	admins map[string]bool
	db     *store.DB
}

// NewRoles builds the role lookup from the admin ids and the store.
func NewRoles(admins []string, db *store.DB) *Roles {
	m := map[string]bool{}
	for _, a := range admins {
		if a = strings.TrimSpace(a); a != "" {
			m[a] = true
		}
	}
	return &Roles{admins: m, db: db}
}

// Caller returns the caller for a Slack user id, with a display name if the
// surface knows one. A failed lookup is a viewer, and the error says why,
// so that nobody gains a role because the database was down.
func (r *Roles) Caller(ctx context.Context, userID, name string) (Caller, error) {
	c := Caller{ID: userID, Name: name, Role: RoleViewer, CorrelationID: CorrelationFor(ctx)}
	if r.admins[userID] {
		c.Role = RoleAdmin
	}
	if r.db == nil {
		return c, nil
	}
	u, err := r.db.UserBySlackID(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c, nil
	case err != nil:
		return c, err
	}
	if c.Name == "" {
		c.Name = u.DisplayName
	}
	if c.Role != RoleAdmin {
		c.Role = u.Role
	}
	return c, nil
}
