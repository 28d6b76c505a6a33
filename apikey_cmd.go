package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/watchtower-fleet/watchtower/api"
	"github.com/watchtower-fleet/watchtower/store"
)

// checkAPIKeyArgs checks apikey's subcommand and flags before anything is
// opened.
func checkAPIKeyArgs(sub, name, role string) error {
	switch sub {
	case "create", "revoke":
		if name == "" {
			return badInput(fmt.Errorf("apikey %s needs --name", sub))
		}
	case "list":
	default:
		return badInput(fmt.Errorf("apikey: unknown subcommand %q (create, revoke or list)", sub))
	}
	if sub == "create" && role == "" {
		return badInput(fmt.Errorf("apikey create needs --role (viewer, dispatcher or admin)"))
	}
	return nil
}

// apikeyCmd creates, revokes and lists the HTTP API's keys. A new key is
// printed once; only its hash is kept.
func apikeyCmd(ctx context.Context, a *app, sub, name, role, actor string, stdout io.Writer) error {
	cfg := a.cfg
	switch sub {
	case "create":
		k, secret, err := a.db.CreateAPIKey(ctx, name, role, actor)
		if err != nil {
			if isInvalid(err) {
				return badInput(err)
			}
			return err
		}
		fmt.Fprintf(stdout, "Created API key %q (%s).\n\n    %s\n\nThis is the only time the key is shown: store it now. Send it as\n"+
			"Authorization: Bearer <key>. Revoke it with: watchtower apikey revoke --name %s\n", k.Name, k.Role, secret, k.Name)
	case "revoke":
		k, err := a.db.RevokeAPIKey(ctx, name, actor)
		if err != nil {
			if isInvalid(err) {
				return badInput(err)
			}
			return err
		}
		// Replicas forget the key at once; those that miss this do within
		// seconds.
		if err := api.PublishRevoked(ctx, a.rdb, "watchtower:", k.Name); err != nil {
			a.logger.Warn("revocation not broadcast; replicas forget the key within 10 s", "err", err)
		}
		fmt.Fprintf(stdout, "Revoked API key %q (%s…).\n", k.Name, k.Prefix)
	case "list":
		keys, err := a.db.APIKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tKEY\tCREATED\tBY\tLAST USED\tSTATE")
		for _, k := range keys {
			state, used := "live", "never"
			if k.RevokedAt != nil {
				state = "revoked " + k.RevokedAt.In(cfg.ReportTimezone).Format(time.DateTime)
			}
			if k.LastUsedAt != nil {
				used = k.LastUsedAt.In(cfg.ReportTimezone).Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.Name, k.Role, k.Prefix, k.CreatedAt.In(cfg.ReportTimezone).Format(time.DateTime),
				k.CreatedBy, used, state)
		}
		return tw.Flush()
	}
	return nil
}

// isInvalid is a bad name or role, a name already live, or no such key:
// the operator's input, exit code 2.
func isInvalid(err error) bool {
	return errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}
