package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is a piece of maintenance the scheduler runs on a cron schedule.
type Job struct {
	Name string
	// Spec is a robfig/cron spec: "@every 30s", "@hourly", "*/5 * * * *".
	Spec string
	Run  func(ctx context.Context, now time.Time) error
	// EveryNode runs the job on every node of a shared database; the others run on the leader
	// alone (Config.Leader).
	EveryNode bool

	schedule cron.Schedule
}

// scheduler runs jobs at the times their cron schedules give, reading time from the engine's
// clock rather than robfig/cron's runner (which reads the wall clock), so tests move time instead
// of sleeping. One job runs at a time; a job that panics is logged and runs again next time.
//
// With a leader, a job not meant for every node runs only when the leader says this node leads,
// asked at each tick that has such a job due: a node that loses the lead stops at its next tick,
// and the node that takes it starts at its own.
type scheduler struct {
	clock  Clock
	logger *slog.Logger
	jobs   []*Job
	leader Leader
	// leading is what the leader said last, to log changes.
	leading bool
	Loop
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func newScheduler(clock Clock, logger *slog.Logger, jobs []*Job, leader Leader) (*scheduler, error) {
	for _, j := range jobs {
		s, err := cronParser.Parse(j.Spec)
		if err != nil {
			return nil, fmt.Errorf("job %s: schedule %q: %w", j.Name, j.Spec, err)
		}
		j.schedule = s
	}
	s := &scheduler{clock: clock, logger: logger, jobs: jobs, leader: leader}
	s.Run = s.loop
	return s, nil
}

func (s *scheduler) loop(ctx context.Context) {
	next := make([]time.Time, len(s.jobs))
	now := s.clock.Now()
	for i, j := range s.jobs {
		next[i] = j.schedule.Next(now)
	}
	for {
		earliest := next[0]
		for _, t := range next[1:] {
			if t.Before(earliest) {
				earliest = t
			}
		}
		if wait := earliest.Sub(s.clock.Now()); wait > 0 {
			t := s.clock.NewTimer(wait)
			select {
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		now := s.clock.Now()
		asked, leads := false, false
		for i, j := range s.jobs {
			if next[i].After(now) {
				continue
			}
			if !j.EveryNode && !asked {
				asked, leads = true, s.lead(ctx)
			}
			if j.EveryNode || leads {
				s.runJob(ctx, j, now)
			}
			next[i] = j.schedule.Next(now)
		}
	}
}

func (s *scheduler) runJob(ctx context.Context, j *Job, now time.Time) {
	defer func() {
		if v := recover(); v != nil {
			s.logger.Error("job panicked", "job", j.Name, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	start := time.Now()
	if err := j.Run(ctx, now); err != nil && ctx.Err() == nil {
		s.logger.Error("job failed", "job", j.Name, "err", err)
		return
	}
	s.logger.Debug("job ran", "job", j.Name, "took", time.Since(start))
}

// lead reports whether this node runs the leader's jobs now. A leader that cannot tell (the
// database is down) means no: two nodes running maintenance at once is what it prevents.
func (s *scheduler) lead(ctx context.Context) bool {
	if s.leader == nil {
		return true
	}
	// Bounded, so that a database that does not answer holds back the jobs of every node alike,
	// not this scheduler forever.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leads, err := s.leader.Leading(ctx)
	if err != nil && ctx.Err() == nil {
		s.logger.Warn("cannot tell whether this node leads; maintenance jobs wait", "err", err)
	}
	if leads != s.leading {
		s.logger.Info("maintenance jobs", "leading", leads)
		s.leading = leads
	}
	return leads
}
