// Package rollout moves the rollouts of agent releases on: on the leader
// alone, every Interval, it reads the rollouts under way, the agents and
// which of them are online, lets rules.StepRollout say what each rollout
// becomes and whom to ask for the update, and stores both. An ask is the
// agent's store.UpdateAsk; the hub of the replica holding the agent's
// channel sends it (coordinator/hub, update.go). A member that took its
// update on and then said nothing within Config.Deadline (offline, or
// stuck) is failed on the agent's behalf (rules.TimeOutUpdate) with an
// UpdateFailed event, so that it frees its place in flight. All its
// state is in the store: a new leader goes on where the last one stopped.
package rollout

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/tick"
)

// Store is what the engine needs of the store.
type Store interface {
	// Rollouts returns every rollout, oldest first.
	Rollouts(ctx context.Context) ([]store.Rollout, error)
	// UpdateRollout applies fn to the stored rollout atomically;
	// store.ErrNotFound if none; an error from fn aborts it.
	UpdateRollout(ctx context.Context, version string, fn func(*store.Rollout) error) (store.Rollout, error)
	// Agents returns every agent, oldest first.
	Agents(ctx context.Context) ([]store.Agent, error)
	// UpdateAgent applies fn to the stored agent atomically;
	// store.ErrNotFound; the feed carries a new UpdateAsk.
	UpdateAgent(ctx context.Context, id string, fn func(*store.Agent) error) (store.Agent, error)
	// Channels returns the agents' channels held now.
	Channels(ctx context.Context) ([]store.Channel, error)
	// AgentConnections returns the connections bound to the agent.
	AgentConnections(ctx context.Context, agentID string) ([]store.Connection, error)
	// AddAgentEvent stores an agent event and the webhook events it sends.
	AddAgentEvent(ctx context.Context, e store.AgentEvent) error
}

// Metrics counts the agent events the engine records.
type Metrics interface {
	AgentEvent(typ string)
}

// Defaults of Config.
const (
	DefaultInterval = 2 * time.Second
	DefaultRetry    = 30 * time.Second
	// DefaultUpdateTimeout is the time an agent is given, beyond the
	// health deadline, to download, verify, unpack and self-test an
	// update (--update-timeout): the agent's own bound on those steps
	// (30 min, agent/update's prepareTimeout), after which it reports
	// the failure itself, and 5 min for its restarts and reconnections.
	DefaultUpdateTimeout = 35 * time.Minute
	// DefaultDeadline is the default --update-health (2 minutes) and
	// DefaultUpdateTimeout.
	DefaultDeadline = 2*time.Minute + DefaultUpdateTimeout
)

// Config is an engine's store and pace.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// Metrics counts the events; nil counts nothing.
	Metrics Metrics
	// Interval is how often the rollouts are moved on; DefaultInterval
	// when 0.
	Interval time.Duration
	// Retry is how long after an ask an agent that has not taken the
	// update on (busy, or offline since) is asked again; DefaultRetry
	// when 0.
	Retry time.Duration
	// Deadline is how long an agent that took an update on (reported
	// UpdateStarted) has to report how it ended: --update-health plus
	// --update-timeout. Past it the update is failed (rules.TimeOutUpdate),
	// and an agent asked that never took it on and is offline has its
	// ask withdrawn (rules.Pace). DefaultDeadline when 0.
	Deadline time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Engine moves rollouts on.
type Engine struct{ cfg Config }

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg}
}

// Run makes a pass every Interval until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	tick.Every(ctx, e.cfg.Interval, e.Pass)
}

// updates says whether an agent's hello said it updates itself.
func updates(a store.Agent) bool { return slices.Contains(a.Features, protocol.FeatureUpdate) }

// errUnchanged ends a rollout's write that changes nothing.
var errUnchanged = errors.New("rollout unchanged")

// Pass moves every rollout under way on once: Running or Paused, or
// Halted while an agent it asked still updates.
func (e *Engine) Pass(ctx context.Context) {
	rs, err := e.cfg.Store.Rollouts(ctx)
	if err != nil {
		e.cfg.Logger.Error("read rollouts", "err", err)
		return
	}
	rs = slices.DeleteFunc(rs, func(r store.Rollout) bool {
		return !r.Status.Active() && (r.Status == store.RolloutComplete ||
			!slices.ContainsFunc(r.Members, func(m store.RolloutMember) bool { return m.Status == store.MemberUpdating }))
	})
	if len(rs) == 0 {
		return
	}
	agents, online, err := e.fleet(ctx)
	if err != nil {
		e.cfg.Logger.Error("read agents", "err", err)
		return
	}
	now := e.cfg.Now().UTC()
	for _, r := range rs {
		err := e.timeOut(ctx, r, agents, now)
		err = errors.Join(err, e.step(ctx, r.Version, agents, online, now))
		if err != nil && ctx.Err() == nil {
			e.cfg.Logger.Error("move rollout on", "version", r.Version, "err", err)
		}
	}
}

// timeOut fails the update of each member of r that took it on and said
// nothing of it within the deadline, and records its UpdateFailed event;
// agents gets the agents as stored.
func (e *Engine) timeOut(ctx context.Context, r store.Rollout, agents map[string]store.Agent, now time.Time) error {
	var errs []error
	for _, m := range r.Members {
		a, ok := agents[m.AgentID]
		if !ok || m.Status != store.MemberUpdating || !rules.UpdateExpired(a, e.cfg.Deadline, now) {
			continue
		}
		a, err := e.cfg.Store.UpdateAgent(ctx, m.AgentID, func(a *store.Agent) error {
			if !rules.TimeOutUpdate(a, e.cfg.Deadline, now) {
				return errUnchanged // it spoke meanwhile
			}
			return nil
		})
		if errors.Is(err, errUnchanged) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		agents[a.ID] = a
		e.cfg.Logger.Warn("update timed out", "version", a.Update.Version, "agent", a.ID, "reason", a.Update.Reason)
		errs = append(errs, e.failed(ctx, a, now))
	}
	return errors.Join(errs...)
}

// failed records the UpdateFailed event of a's timed-out update, which
// sends agent.update.failed for each connection bound to it.
func (e *Engine) failed(ctx context.Context, a store.Agent, now time.Time) error {
	cs, err := e.cfg.Store.AgentConnections(ctx, a.ID)
	if err != nil {
		return err
	}
	var conns []string
	for _, c := range cs {
		conns = append(conns, c.ID)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	u := *a.Update
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.AgentEvent(string(store.EventUpdateFailed))
	}
	return e.cfg.Store.AddAgentEvent(ctx, store.AgentEvent{ID: id.String(), AgentID: a.ID, At: now, Type: store.EventUpdateFailed,
		Detail: u.Reason, Update: &u, Connections: conns})
}

// fleet reads the agents, by id, and which are online.
func (e *Engine) fleet(ctx context.Context) (map[string]store.Agent, map[string]bool, error) {
	as, err := e.cfg.Store.Agents(ctx)
	if err != nil {
		return nil, nil, err
	}
	chs, err := e.cfg.Store.Channels(ctx)
	if err != nil {
		return nil, nil, err
	}
	agents, online := make(map[string]store.Agent, len(as)), make(map[string]bool, len(chs))
	for _, a := range as {
		agents[a.ID] = a
	}
	for _, c := range chs {
		online[c.AgentID] = c.Replica != ""
	}
	return agents, online, nil
}

// step moves one rollout on and stores its asks.
func (e *Engine) step(ctx context.Context, version string, agents map[string]store.Agent, online map[string]bool, now time.Time) error {
	var st rules.Step
	pace := rules.Pace{Retry: e.cfg.Retry, Deadline: e.cfg.Deadline}
	r, err := e.cfg.Store.UpdateRollout(ctx, version, func(r *store.Rollout) error {
		st = rules.StepRollout(r, agents, online, updates, now, pace)
		if !st.Changed {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != store.RolloutRunning {
		e.cfg.Logger.Info("rollout", "version", version, "status", r.Status, "haltReason", r.HaltReason)
	}
	var errs []error
	for _, id := range st.Ask {
		e.cfg.Logger.Info("update asked", "version", version, "agent", id)
		errs = append(errs, e.ask(ctx, id, &store.UpdateAsk{Version: version, Reason: "rollout", At: now}, version))
	}
	for _, id := range st.Unask {
		errs = append(errs, e.ask(ctx, id, nil, version))
	}
	return errors.Join(errs...)
}

// ask stores the agent's ask (nil: withdraws the ask of version).
func (e *Engine) ask(ctx context.Context, agentID string, ask *store.UpdateAsk, version string) error {
	_, err := e.cfg.Store.UpdateAgent(ctx, agentID, func(a *store.Agent) error {
		if ask == nil && (a.UpdateAsk == nil || a.UpdateAsk.Version != version) {
			return errUnchanged
		}
		a.UpdateAsk = ask
		return nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
