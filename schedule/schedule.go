// Package schedule runs the scheduled jobs on gocron: each job is a name, a
// schedule (an interval, a cron line, or a daily time in the report's zone)
// and a func(ctx) error, and a Redis lock makes one replica run each tick.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Job is one piece of scheduled work: the Sheets sync, the 06:00 report,
// partition upkeep. Every replica schedules every job; a Redis lock makes
// each run happen once.
type Job struct {
	Name  string
	Every time.Duration // run every this long…
	Daily string        // …or at this local time each day ("06:00")…
	Cron  string        // …or on this five-field cron schedule, local time
	Run   func(ctx context.Context) error
}

// ErrLocked is returned when another replica holds a job's lock.
var ErrLocked = errors.New("schedule: job is running on another replica")

// RedisLocker is gocron's distributed locker on Redis.
//
// A lock is held for most of the job's interval rather than released when
// the run ends: replicas' clocks differ slightly, and a lock released at the
// end would let a replica whose tick comes a few milliseconds later run the
// same job again.
type RedisLocker struct {
	rdb  redis.UniversalClient
	hold map[string]time.Duration // job name → how long a run's lock lasts
}

// Lock takes the job's lock for its hold time, or returns ErrLocked.
func (l *RedisLocker) Lock(ctx context.Context, key string) (gocron.Lock, error) {
	hold := l.hold[key]
	if hold <= 0 {
		hold = time.Minute
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	ok, err := l.rdb.SetNX(ctx, "watchtower:lock:"+key, token, hold).Result()
	if err != nil {
		return nil, fmt.Errorf("schedule: lock %s: %w", key, err)
	}
	if !ok {
		return nil, ErrLocked
	}
	return redisLock{}, nil
}

// redisLock expires by itself (see RedisLocker).
type redisLock struct{}

func (redisLock) Unlock(context.Context) error { return nil }

// Scheduler runs Jobs with gocron.
type Scheduler struct {
	s gocron.Scheduler
}

// NewScheduler schedules jobs in loc (REPORT_TIMEZONE for daily times).
// Failures are logged and counted, and never stop the other jobs.
func NewScheduler(rdb redis.UniversalClient, jobs []Job, loc *time.Location, logger *slog.Logger, reg prometheus.Registerer,
	opts ...gocron.SchedulerOption) (*Scheduler, error) {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "watchtower_job_runs_total", Help: "Scheduled job runs on this replica, by job and result.",
	}, []string{"job", "result"})
	reg.MustRegister(runs)
	locker := &RedisLocker{rdb: rdb, hold: map[string]time.Duration{}}
	s, err := gocron.NewScheduler(append([]gocron.SchedulerOption{gocron.WithLocation(loc), gocron.WithDistributedLocker(locker)}, opts...)...)
	if err != nil {
		return nil, err
	}
	sch := &Scheduler{s: s}
	for _, j := range jobs {
		var def gocron.JobDefinition
		switch {
		case j.Every > 0:
			def = gocron.DurationJob(j.Every)
			locker.hold[j.Name] = j.Every * 9 / 10
		case j.Cron != "":
			def = gocron.CronJob(j.Cron, false)
			// Replicas' clocks differ by seconds, not a minute.
			locker.hold[j.Name] = 50 * time.Second
		case j.Daily != "":
			at, err := time.Parse("15:04", j.Daily)
			if err != nil {
				return nil, fmt.Errorf("schedule: job %s: daily time %q: %w", j.Name, j.Daily, err)
			}
			def = gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(uint(at.Hour()), uint(at.Minute()), 0)))
			locker.hold[j.Name] = time.Hour
		default:
			return nil, fmt.Errorf("schedule: job %s has no schedule", j.Name)
		}
		run := j.Run
		name := j.Name
		opts := []gocron.JobOption{gocron.WithName(name), gocron.WithSingletonMode(gocron.LimitModeReschedule)}
		if j.Every > 0 {
			// Interval jobs also run at start; a job at a time of day (the
			// 06:00 report) waits for its time.
			opts = append(opts, gocron.WithStartAt(gocron.WithStartImmediately()))
		}
		_, err := s.NewJob(def, gocron.NewTask(func(ctx context.Context) {
			start := time.Now()
			if err := run(ctx); err != nil {
				runs.WithLabelValues(name, "error").Inc()
				logger.Error("job failed", "job", name, "err", err, "duration", time.Since(start))
				return
			}
			runs.WithLabelValues(name, "ok").Inc()
			logger.Debug("job done", "job", name, "duration", time.Since(start))
		}), opts...)
		if err != nil {
			return nil, fmt.Errorf("schedule: job %s: %w", j.Name, err)
		}
	}
	return sch, nil
}

// Start starts the jobs.
func (s *Scheduler) Start() { s.s.Start() }

// Run runs the jobs until ctx ends, then stops scheduling and returns once
// the jobs running have finished.
func (s *Scheduler) Run(ctx context.Context) error {
	s.Start()
	<-ctx.Done()
	return s.Stop()
}

// NextRun is when a job runs next.
func (s *Scheduler) NextRun(name string) (time.Time, error) {
	for _, j := range s.s.Jobs() {
		if j.Name() == name {
			return j.NextRun()
		}
	}
	return time.Time{}, &UnknownJobError{Name: name}
}

// Stop stops scheduling and waits for running jobs. It may be called more
// than once.
func (s *Scheduler) Stop() error {
	err := s.s.Shutdown()
	if err != nil && errors.Is(err, gocron.ErrStopSchedulerTimedOut) {
		return err
	}
	return nil
}

// RunOnce runs one job now, on this replica, without its lock: the
// `watchtower job NAME` command.
func RunOnce(ctx context.Context, jobs []Job, name string) error {
	for _, j := range jobs {
		if j.Name == name {
			return j.Run(ctx)
		}
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	return &UnknownJobError{Name: name, Jobs: names}
}

// UnknownJobError is a job name that is not in the table: the caller's
// mistake, not the job's failure.
type UnknownJobError struct {
	Name string
	Jobs []string // the jobs there are, when known
}

func (e *UnknownJobError) Error() string {
	if e.Jobs == nil {
		return fmt.Sprintf("no job %q", e.Name)
	}
	return fmt.Sprintf("no job %q (jobs: %v)", e.Name, e.Jobs)
}
