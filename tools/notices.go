package tools

import (
	"context"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// AlertNotice is an alert as the alert channel shows it.
type AlertNotice = store.AlertNotice

// AlertNotices returns the alerts with these ids, for the alert channel.
func (r *Registry) AlertNotices(ctx context.Context, ids []int64) ([]AlertNotice, error) {
	return r.deps.DB.AlertNotices(ctx, ids)
}

// MarkAlertsNotified records that the alerts were posted.
func (r *Registry) MarkAlertsNotified(ctx context.Context, ids []int64) error {
	return r.deps.DB.MarkAlertsNotified(ctx, ids)
}

// AcknowledgeAlerts records that c has seen the alerts: each alert once,
// in the audit log with who and when. Anyone the bot knows may
// acknowledge.
func (r *Registry) AcknowledgeAlerts(ctx context.Context, c Caller, ids []int64) (store.Acknowledgement, error) {
	return r.deps.DB.AcknowledgeAlerts(ctx, ids, c.ID, c.Name, c.CorrelationID)
}

// TripEvent is an event of a trip that follows itself.
type TripEvent = store.TripEvent

// TripNotice is a trip's event for the alert channel.
type TripNotice = store.TripNotice

// PostTripEvents hands the trips' new events to post, each once across
// replicas (see store.PostTripEvents); events over an hour old are a
// backfill, not news, and are not posted.
func (r *Registry) PostTripEvents(ctx context.Context, limit int,
	post func(ctx context.Context, n TripNotice) (channel, rootTS string, err error)) (int, error) {
	return r.deps.DB.PostTripEvents(ctx, limit, time.Hour, r.Now(), post)
}

// AdminIDs are the Slack ids of the active users whose role is admin.
func (r *Registry) AdminIDs(ctx context.Context) ([]string, error) {
	return r.deps.DB.AdminUserIDs(ctx)
}
