package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/watchtower-fleet/watchtower/loconav"
	"github.com/watchtower-fleet/watchtower/store"
)

// LocoNav is what the tools need of LocoNav's API; *loconav.Client has it.
type LocoNav interface {
	CreateTrip(ctx context.Context, req loconav.TripRequest) (loconav.TripRef, error)
	TrackURL(ctx context.Context, tripID int64) (string, error)
	DeleteTrip(ctx context.Context, tripID int64) error
	EndTrip(ctx context.Context, tripID int64) error
	Trips(ctx context.Context, q loconav.TripQuery) ([]loconav.TripState, error)
	LastKnown(ctx context.Context, uuids []string) ([]loconav.LastKnownFix, error)
}

// loconavCallTimeout bounds one LocoNav call made while a person waits.
const loconavCallTimeout = 10 * time.Second

// loconavRetry is the backoff of the job that retries trips LocoNav has not
// taken yet: 1, 2, 4 … minutes, at most an hour.
func loconavRetry(attempts int) time.Duration {
	d := time.Minute << min(attempts, 6)
	return min(d, time.Hour)
}

// pushTrip creates trip t in LocoNav and stores LocoNav's id and the public
// tracking link. A failure leaves the trip standing, marked "not yet in
// LocoNav", for the loconav-trips job to retry; the fleet's trip id is the
// idempotency key, so a retry never makes a second trip.
func (r *Registry) pushTrip(ctx context.Context, t store.Trip) store.Trip {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loconavCallTimeout)
	defer cancel()
	ref, url, err := r.createInLocoNav(ctx, t)
	if err == nil {
		err = r.deps.DB.SetTripLocoNav(ctx, t.ID, ref.ID, url)
	}
	if err == nil {
		t.LocoNavTripID, t.TrackingURL, t.LocoNavState, t.LocoNavError = ref.ID, url, store.LocoNavSynced, ""
		return t
	}
	r.logger.WarnContext(ctx, "trip not yet in loconav", "trip", t.VPCID, "attempts", t.LocoNavAttempts+1, "err", err)
	next := r.deps.Now().Add(loconavRetry(t.LocoNavAttempts))
	if merr := r.deps.DB.MarkTripLocoNavFailed(ctx, t.ID, err.Error(), next); merr != nil {
		r.logger.ErrorContext(ctx, "mark trip loconav failed", "trip", t.VPCID, "err", merr)
	}
	t.LocoNavState, t.LocoNavError = store.LocoNavFailed, err.Error()
	t.LocoNavAttempts++
	return t
}

// createInLocoNav creates the trip in LocoNav and fetches its tracking
// link. A trip LocoNav took but whose link it did not give is still taken:
// the link is left empty and logged.
func (r *Registry) createInLocoNav(ctx context.Context, t store.Trip) (loconav.TripRef, string, error) {
	pickup, err := r.deps.DB.LocationByName(ctx, t.Pickup)
	if err != nil {
		return loconav.TripRef{}, "", err
	}
	delivery, err := r.deps.DB.LocationByName(ctx, t.Delivery)
	if err != nil {
		return loconav.TripRef{}, "", err
	}
	ref, err := r.deps.LocoNav.CreateTrip(ctx, loconav.TripRequest{
		VehicleNumber: loconavVehicle(t), UniqueID: t.VPCID, ShouldStartAt: t.ScheduledDeparture,
		Source: tripPlace(pickup), Destination: tripPlace(delivery),
	})
	if err != nil {
		return loconav.TripRef{}, "", err
	}
	url, err := r.deps.LocoNav.TrackURL(ctx, ref.ID)
	if err != nil {
		r.logger.WarnContext(ctx, "loconav track url", "trip", t.VPCID, "loconav_trip_id", ref.ID, "err", err)
	}
	return ref, url, nil
}

// loconavVehicle is the plate as LocoNav spells it, when known.
func loconavVehicle(t store.Trip) string {
	if t.TruckLocoNavNumber != "" {
		return t.TruckLocoNavNumber
	}
	return t.TruckNumber
}

func tripPlace(l store.Location) loconav.TripPlace {
	return loconav.TripPlace{Name: l.Name, GeofenceID: l.LocoNavPolygonID, Lat: l.Center.Lat, Lon: l.Center.Lon, Address: l.Address}
}

// PushTripsToLocoNav retries the trips LocoNav has not taken yet whose
// next attempt is due: the loconav-trips job. It returns how many went
// through.
func (r *Registry) PushTripsToLocoNav(ctx context.Context) (int, error) {
	if r.deps.LocoNav == nil {
		return 0, nil
	}
	trips, err := r.deps.DB.TripsAwaitingLocoNav(ctx, r.deps.Now(), 50)
	if err != nil {
		return 0, fmt.Errorf("tools: trips awaiting loconav: %w", err)
	}
	n := 0
	for _, t := range trips {
		if ctx.Err() != nil {
			break
		}
		if r.pushTrip(ctx, t).LocoNavState == store.LocoNavSynced {
			n++
		}
	}
	return n, ctx.Err()
}

// removeFromLocoNav deletes a cancelled trip in LocoNav. A failure is
// logged: the trip is cancelled here whatever LocoNav says, and LocoNav
// ends a trip by itself.
func (r *Registry) removeFromLocoNav(ctx context.Context, t store.Trip) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loconavCallTimeout)
	defer cancel()
	if err := r.deps.LocoNav.DeleteTrip(ctx, t.LocoNavTripID); err != nil {
		r.logger.WarnContext(ctx, "loconav delete trip", "trip", t.VPCID, "loconav_trip_id", t.LocoNavTripID, "err", err)
	}
}

// refreshPosition asks LocoNav for the truck's latest fix when ours is
// stale, and keeps it if it is newer. It reports whether the truck's
// position changed. Failures are logged: the stored fix still answers.
func (r *Registry) refreshPosition(ctx context.Context, truck *store.Truck) bool {
	if r.deps.LocoNav == nil || truck.LocoNavUUID == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	fixes, err := r.deps.LocoNav.LastKnown(ctx, []string{truck.LocoNavUUID})
	if err != nil {
		r.logger.WarnContext(ctx, "loconav refresh", "truck_number", truck.Number, "err", err)
		return false
	}
	for _, lk := range fixes {
		f, ok := lk.Fix()
		if lk.VehicleUUID != truck.LocoNavUUID || !ok || (truck.Fix != nil && !f.At.After(truck.Fix.At)) {
			continue
		}
		changed, err := r.deps.DB.UpdateTruckPosition(ctx, truck.ID, f)
		if err != nil {
			r.logger.WarnContext(ctx, "store refreshed position", "truck_number", truck.Number, "err", err)
			return false
		}
		if changed {
			truck.Fix = &f
			return true
		}
	}
	return false
}

// SyncTripsWithLocoNav keeps LocoNav in step with the trips that follow
// themselves here: a closed trip is ended there (END_TRIP), and LocoNav's
// own view (delayed, unsuccessful, completed, set there by its people or
// rules) is read back with GET /trips. Failures are retried next run.
func (r *Registry) SyncTripsWithLocoNav(ctx context.Context) (ended, changed int, err error) {
	if r.deps.LocoNav == nil {
		return 0, 0, nil
	}
	toEnd, err := r.deps.DB.TripsToEndInLocoNav(ctx, 50)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, t := range toEnd {
		callCtx, cancel := context.WithTimeout(ctx, loconavCallTimeout)
		err := r.deps.LocoNav.EndTrip(callCtx, t.LocoNavTripID)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("end %s: %w", t.VPCID, err))
			continue
		}
		if _, err := r.deps.DB.SetTripLocoNavStatus(ctx, t.ID, loconav.TripCompleted, r.deps.Now()); err != nil {
			errs = append(errs, err)
			continue
		}
		ended++
	}
	ours, err := r.deps.DB.TripsInLocoNav(ctx, 500)
	if err != nil || len(ours) == 0 {
		return ended, 0, errors.Join(append(errs, err)...)
	}
	byID := map[int64]store.LocoNavTrip{}
	for _, t := range ours {
		byID[t.LocoNavTripID] = t
	}
	callCtx, cancel := context.WithTimeout(ctx, time.Minute)
	states, err := r.deps.LocoNav.Trips(callCtx, loconav.TripQuery{From: r.deps.Now().Add(-3 * 24 * time.Hour)})
	cancel()
	if err != nil {
		return ended, 0, errors.Join(append(errs, fmt.Errorf("list trips: %w", err))...)
	}
	for _, st := range states {
		t, ok := byID[st.ID]
		if !ok || st.Status == "" || st.Status == t.LocoNavStatus {
			continue
		}
		ch, err := r.deps.DB.SetTripLocoNavStatus(ctx, t.ID, st.Status, r.deps.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ch {
			changed++
		}
	}
	return ended, changed, errors.Join(errs...)
}
