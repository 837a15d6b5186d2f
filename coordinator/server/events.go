package server

import (
	"errors"
	"log/slog"
	"time"

	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/schedule"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/webhook"
)

// EventsConfig configures the scheduled syncs and the webhook deliveries.
type EventsConfig struct {
	// ScheduleInterval is the longest the scheduler sleeps between two
	// looks for due syncs: it wakes when the earliest is due, or a change
	// arms one due earlier.
	ScheduleInterval time.Duration
	// WebhookAllowPrivate lets webhook consumers be on loopback and private
	// addresses: off, a client cannot make Ferry call into its own network.
	WebhookAllowPrivate bool
	// WebhookDisableAfter is how long a consumer may keep failing before it
	// is disabled.
	WebhookDisableAfter time.Duration
	// WebhookMinBackoff and WebhookMaxBackoff bound the wait before a failed
	// delivery is tried again (doubling per attempt).
	WebhookMinBackoff, WebhookMaxBackoff time.Duration
}

// DefaultEventsConfig is the configuration with no flags.
func DefaultEventsConfig() EventsConfig {
	return EventsConfig{
		ScheduleInterval:    30 * time.Second,
		WebhookDisableAfter: 24 * time.Hour,
		WebhookMinBackoff:   30 * time.Second,
		WebhookMaxBackoff:   time.Hour,
	}
}

// Validate names the field at fault.
func (c EventsConfig) Validate() error {
	switch {
	case c.ScheduleInterval < 10*time.Millisecond:
		return errors.New("schedule-interval: must be at least 10ms")
	case c.WebhookDisableAfter < time.Minute:
		return errors.New("webhook-disable-after: must be at least 1m")
	case c.WebhookMinBackoff < 10*time.Millisecond || c.WebhookMaxBackoff < c.WebhookMinBackoff:
		return errors.New("webhook-min-backoff, webhook-max-backoff: at least 10ms, and max at least min")
	}
	return nil
}

// events runs the scheduler and the webhook dispatcher.
type events struct {
	sched *schedule.Scheduler
	hooks *webhook.Dispatcher
}

func newEvents(cfg Config, st store.Backend, feed *store.Feed, q *queue.Queuer, m *metrics.Metrics, log *slog.Logger) *events {
	ec := cfg.Events
	return &events{
		sched: schedule.New(schedule.Config{
			Store: st, Queuer: q, Feed: feed, Logger: log.With("subsystem", "schedule"), Interval: ec.ScheduleInterval,
			Metrics: m,
		}),
		hooks: webhook.New(webhook.Config{
			Store: st, Feed: feed, Logger: log.With("subsystem", "webhook"), PublicURL: cfg.PublicURL,
			AllowPrivate: ec.WebhookAllowPrivate, DisableAfter: ec.WebhookDisableAfter,
			MinBackoff: ec.WebhookMinBackoff, MaxBackoff: ec.WebhookMaxBackoff, Metrics: m,
		}),
	}
}

func (e *events) start() {
	e.sched.Start()
	e.hooks.Start()
}

// close stops both loops; undelivered events stay in the outbox.
func (e *events) close() {
	e.sched.Close()
	e.hooks.Close()
}
