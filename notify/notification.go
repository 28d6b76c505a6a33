// Package notify is the one channel from the back end to the people: the
// notifications stream in Redis. Ingestion and the jobs write alerts, trip
// events and notices to it; the Slack bot and the console read them back.
// Notification is the contract both sides share: Values writes an entry,
// Decode reads one.
package notify

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/watchtower-fleet/watchtower/store"
)

// Stream is the notifications stream's key in production.
const Stream = "watchtower:notifications"

// Type says what a notification is about.
type Type string

// The types of notification.
const (
	// TypeAlert is a stored alert: the alert channel posts it once.
	TypeAlert Type = "alert"
	// TypeTrip is a trip event (arrived, left, delayed): the console
	// shows it as it happens; Slack posts trip events from their own
	// outbox, in the trip's thread.
	TypeTrip Type = "trip"
	// TypeNotice is a notice for the admins, such as the sheet sync's
	// changes and new bad rows.
	TypeNotice Type = "notice"
)

// Notification is one entry of the notifications stream.
type Notification struct {
	Type Type
	// Kind is the alert's kind (overspeed, device_offline, …), the trip
	// event's (arrived_pickup, delay_started, …) or the notice's (sync).
	Kind string
	// At is when it began: the alert's start, the event's time, the
	// notice's writing.
	At time.Time

	AlertID  int64  // alerts
	Severity string // alerts
	Truck    string // alerts and trip events
	Location string // the place's code, where there is one
	Trip     string // trip events: the trip's VPC id
	Reason   string // trip events: why, for a delay
	Text     string // notices: what the admins read
}

// Stream entry fields. An alert's entry carries no type field: the stream
// was written that way before there were other types, and an entry
// without one is an alert.
const (
	fieldType     = "type"
	fieldAlertID  = "alert_id"
	fieldKind     = "kind"
	fieldSeverity = "severity"
	fieldTruck    = "truck"
	fieldLocation = "location"
	fieldTrip     = "trip"
	fieldReason   = "reason"
	fieldText     = "text"
	fieldAt       = "started_at" // RFC 3339, UTC, whole seconds
)

// AlertOf is the notification of a stored alert.
func AlertOf(a store.Alert) Notification {
	return Notification{Type: TypeAlert, AlertID: a.ID, Kind: a.Kind, Severity: a.Severity, Truck: a.TruckNumber,
		Location: a.LocationCode, At: a.StartedAt}
}

// TripOf is the notification of a trip event.
func TripOf(e store.TripEvent) Notification {
	place, _ := e.Details["place"].(string)
	reason, _ := e.Details["reason"].(string)
	return Notification{Type: TypeTrip, Trip: e.TripVPCID, Kind: e.Kind, Truck: e.TruckNumber, Location: place, Reason: reason, At: e.At}
}

// Values is n as a stream entry's fields, for XADD.
func (n Notification) Values() []any {
	at := n.At.UTC().Format(time.RFC3339)
	switch n.Type {
	case TypeTrip:
		return []any{fieldType, string(TypeTrip), fieldTrip, n.Trip, fieldKind, n.Kind, fieldTruck, n.Truck,
			fieldLocation, n.Location, fieldReason, n.Reason, fieldAt, at}
	case TypeNotice:
		return []any{fieldType, string(TypeNotice), fieldKind, n.Kind, fieldText, n.Text, fieldAt, at}
	}
	return []any{fieldAlertID, strconv.FormatInt(n.AlertID, 10), fieldKind, n.Kind, fieldSeverity, n.Severity,
		fieldTruck, n.Truck, fieldLocation, n.Location, fieldAt, at}
}

// ErrMalformed is wrapped by Decode's errors: the entry is not a
// notification this version can read. Readers skip it.
var ErrMalformed = errors.New("notify: malformed notification")

// Decode reads a stream entry's fields (redis.XMessage.Values) back. An
// entry that is not a notification this version knows gives an error
// wrapping ErrMalformed, never a half-read one.
func Decode(values map[string]any) (Notification, error) {
	get := func(k string) string { s, _ := values[k].(string); return s }
	n := Notification{Type: Type(get(fieldType)), Kind: get(fieldKind), Truck: get(fieldTruck), Location: get(fieldLocation)}
	if n.Type == "" {
		n.Type = TypeAlert
	}
	if s := get(fieldAt); s != "" {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Notification{}, fmt.Errorf("%w: %s %q is not RFC 3339", ErrMalformed, fieldAt, s)
		}
		n.At = at
	}
	switch n.Type {
	case TypeAlert:
		id, err := strconv.ParseInt(get(fieldAlertID), 10, 64)
		if err != nil || id <= 0 {
			return Notification{}, fmt.Errorf("%w: an alert without a valid %s (%q)", ErrMalformed, fieldAlertID, get(fieldAlertID))
		}
		n.AlertID, n.Severity = id, get(fieldSeverity)
	case TypeTrip:
		n.Trip, n.Reason = get(fieldTrip), get(fieldReason)
		if n.Trip == "" {
			return Notification{}, fmt.Errorf("%w: a trip event without its trip", ErrMalformed)
		}
	case TypeNotice:
		n.Text = get(fieldText)
	default:
		return Notification{}, fmt.Errorf("%w: unknown type %q", ErrMalformed, n.Type)
	}
	return n, nil
}
