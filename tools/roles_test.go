package tools_test

import (
	"testing"

	"github.com/watchtower-fleet/watchtower/tools"
)

// WATCHTOWER_ADMINS are admins whatever the users table says; the table
// gives everyone else their role; unknown users are viewers.
func TestRoles(t *testing.T) {
	e := newEnv(t)
	roles := tools.NewRoles([]string{"UWOL0LU0JUZ", " UNEWADMIN1 "}, e.db)
	cases := []struct{ id, role, name string }{
		{"UWOL0LU0JUZ", tools.RoleAdmin, "Chinedu Okafor"}, // a viewer in the table, an admin by the variable
		{"UNEWADMIN1", tools.RoleAdmin, ""},
		{"UR9E0S7PEVF", tools.RoleDispatcher, "Oluwaseun Adekunle"},
		{"UGEAY6BANS4", tools.RoleAdmin, "Adebayo Ogunleye"},
		{"U0STRANGER", tools.RoleViewer, ""},
	}
	for _, c := range cases {
		got, err := roles.Caller(t.Context(), c.id, "")
		if err != nil || got.Role != c.role || got.Name != c.name || got.CorrelationID == "" {
			t.Errorf("%s: %+v %v, want %s %q", c.id, got, err, c.role, c.name)
		}
	}
}
