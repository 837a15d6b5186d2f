package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Diagnostics across replicas. Support may ask on any replica, but only
// the one holding the agent's channel can send it diagnose. Another
// replica writes a request in the store (store.DiagnosticsStore), which
// the change feed carries to the holder; the holder runs it as for a
// caller of its own and stores the answer, whose change wakes the asking
// replica. Callers that come while a request waits share it: one request
// per agent. A lost notification costs latency only: each replica's sweep
// runs the waiting requests of its agents, and a waiting caller reads the
// store every diagnosePoll.

// DiagnosticsReport is an agent's answer to diagnose, with what the
// coordinator measured around it.
type DiagnosticsReport struct {
	protocol.Diagnostics
	RequestedAt     time.Time
	ReceivedAt      time.Time
	RoundTripMillis int64
	// ClockSkewMillis is the agent's clock minus the coordinator's, at the
	// middle of the round trip.
	ClockSkewMillis int64
}

// Healthy says no check failed (a warning is still healthy).
func (r DiagnosticsReport) Healthy() bool {
	for _, c := range r.Checks {
		if c.Status == protocol.CheckFail {
			return false
		}
	}
	return true
}

// DiagnoseTimeout is how long the API and the Portal wait for an agent's
// diagnostics report.
const DiagnoseTimeout = 10 * time.Second

// maxClockSkew is the skew a clock check still passes.
const maxClockSkew = 30 * time.Second

// diagnosePoll is how often a caller waiting for another replica's answer
// reads the store, in case the answer's notification was lost.
const diagnosePoll = time.Second

// Diagnose asks an online agent to check itself and waits for its report
// until ctx ends, through the replica holding its channel when that is
// another. ErrOffline when no replica holds the agent's channel (or it
// closes meanwhile), ErrNoAnswer when ctx ends first. The report gets a
// clock check added (against the clock of the replica holding the
// channel).
func (h *Hub) Diagnose(ctx context.Context, agentID string) (DiagnosticsReport, error) {
	c := h.local(agentID)
	if c != nil {
		return c.diagnose(ctx)
	}
	ch, err := h.st.Channel(ctx, agentID)
	switch {
	case ctx.Err() != nil:
		return DiagnosticsReport{}, ErrNoAnswer
	case err != nil:
		return DiagnosticsReport{}, fmt.Errorf("read the agent's channel: %w", err)
	case ch.Replica == "" || ch.Replica == h.cfg.Replica:
		return DiagnosticsReport{}, ErrOffline
	}
	return h.diagnoseRemote(ctx, agentID, ch.Replica)
}

// diagnose sends the agent diagnose on this channel and waits for its
// report until ctx ends.
func (c *agentConn) diagnose(ctx context.Context) (DiagnosticsReport, error) {
	id := uuid.NewString()
	answer := make(chan protocol.Diagnostics, 1)
	c.mu.Lock()
	if c.pending == nil {
		c.pending = map[string]chan protocol.Diagnostics{}
	}
	c.pending[id] = answer
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	// Real clocks, not the hub's: this measures the wire and the agent's
	// clock against this machine's.
	sent := time.Now().UTC()
	c.enqueue(protocol.Message{Type: protocol.TypeDiagnose, ID: id, Diagnose: &protocol.Diagnose{ServerTime: sent}})
	select {
	case d := <-answer:
		got := time.Now().UTC()
		rtt := got.Sub(sent)
		skew := d.AgentTime.Sub(sent.Add(rtt / 2))
		check := protocol.Check{Name: protocol.CheckClock, Status: protocol.CheckPass, Value: skew.Milliseconds(),
			Message: fmt.Sprintf("agent clock is %s off the coordinator's", skew.Round(time.Millisecond))}
		if skew.Abs() > maxClockSkew {
			check.Status = protocol.CheckWarn
		}
		d.Checks = append(d.Checks, check)
		return DiagnosticsReport{Diagnostics: d, RequestedAt: sent, ReceivedAt: got,
			RoundTripMillis: rtt.Milliseconds(), ClockSkewMillis: skew.Milliseconds()}, nil
	case <-c.done:
		return DiagnosticsReport{}, ErrOffline
	case <-ctx.Done():
		return DiagnosticsReport{}, ErrNoAnswer
	}
}

// onDiagnostics hands an agent's report to the diagnose call waiting for it.
func (c *agentConn) onDiagnostics(m protocol.Message) {
	c.mu.Lock()
	answer := c.pending[m.ReplyTo]
	c.mu.Unlock()
	if answer == nil {
		c.logger().Info("diagnostics nobody waits for", "replyTo", m.ReplyTo)
		return
	}
	select {
	case answer <- *m.Diagnostics:
	default:
	}
}

// remoteAnswer is the answer the replica holding the channel stores: the
// report, or that the agent was offline, or (neither) that it did not
// answer in time.
type remoteAnswer struct {
	Report  *DiagnosticsReport `json:"report,omitempty"`
	Offline bool               `json:"offline,omitempty"`
}

// diagnoseRemote asks replica, which holds the agent's channel, through
// the store, and waits for its answer until ctx ends.
func (h *Hub) diagnoseRemote(ctx context.Context, agentID, replica string) (DiagnosticsReport, error) {
	now := time.Now().UTC() // the replicas' clocks: the one that runs it checks the request's age
	r, err := h.st.RequestDiagnostics(ctx, store.DiagnosticsRequest{AgentID: agentID, ID: uuid.NewString(),
		Replica: replica, Asked: now}, now.Add(-DiagnoseTimeout))
	if err != nil {
		return DiagnosticsReport{}, storeFailure(ctx, "ask for the agent's diagnostics", err)
	}
	poll := time.NewTicker(diagnosePoll)
	defer poll.Stop()
	for {
		wake := h.diagnosticsWake()
		got, err := h.st.Diagnostics(ctx, agentID)
		switch {
		case ctx.Err() != nil:
			return DiagnosticsReport{}, ErrNoAnswer
		case errors.Is(err, store.ErrNotFound) || (err == nil && got.ID != r.ID):
			return DiagnosticsReport{}, ErrNoAnswer // replaced when stale, or pruned
		case err != nil:
			return DiagnosticsReport{}, fmt.Errorf("read the agent's diagnostics: %w", err)
		case !got.Answered.IsZero():
			var a remoteAnswer
			if err := json.Unmarshal(got.Answer, &a); err != nil {
				return DiagnosticsReport{}, fmt.Errorf("decode the agent's diagnostics: %w", err)
			}
			switch {
			case a.Report != nil:
				return *a.Report, nil
			case a.Offline:
				return DiagnosticsReport{}, ErrOffline
			}
			return DiagnosticsReport{}, ErrNoAnswer
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
			return DiagnosticsReport{}, ErrNoAnswer
		}
	}
}

// storeFailure is err from the store, or ErrNoAnswer when ctx ended.
func storeFailure(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ErrNoAnswer
	}
	return fmt.Errorf("%s: %w", what, err)
}

// diagnosticsWake returns a channel closed at the next diagnostics answer
// stored on any replica (or a gap in the feed).
func (h *Hub) diagnosticsWake() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.diagWake == nil {
		h.diagWake = make(chan struct{})
	}
	return h.diagWake
}

// wakeDiagnostics wakes the callers waiting for another replica's answer.
func (h *Hub) wakeDiagnostics() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.diagWake != nil {
		close(h.diagWake)
		h.diagWake = nil
	}
}

// diagnosticsChanged acts on a diagnostics request made or answered on
// any replica.
func (h *Hub) diagnosticsChanged(d store.DiagnosticsChange) {
	if d.Answered {
		h.wakeDiagnostics()
		return
	}
	h.answer(store.DiagnosticsRequest{AgentID: d.AgentID, ID: d.ID, Replica: d.Replica})
}

// answer runs a request for an agent whose channel this replica holds and
// stores the answer; a request made of this replica for an agent no
// longer here is answered offline, and any other is left to its agent's
// replica. A request runs once at a time here.
func (h *Hub) answer(r store.DiagnosticsRequest) {
	h.mu.Lock()
	c := h.agents[r.AgentID]
	if h.closed || h.answering[r.ID] || (c == nil && r.Replica != h.cfg.Replica) {
		h.mu.Unlock()
		return
	}
	h.answering[r.ID] = true
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		h.runAnswer(c, r)
		h.mu.Lock()
		delete(h.answering, r.ID)
		h.mu.Unlock()
	}()
}

// runAnswer diagnoses the agent on c (offline when c is nil) and stores
// the answer to r; when the hub closes meanwhile it stores none, and the
// caller's wait ends as for an agent that does not answer.
func (h *Hub) runAnswer(c *agentConn, r store.DiagnosticsRequest) {
	a := remoteAnswer{Offline: c == nil}
	if c != nil {
		ctx, cancel := context.WithTimeout(h.ctx, DiagnoseTimeout)
		rep, err := c.diagnose(ctx)
		cancel()
		switch {
		case err == nil:
			a.Report = &rep
		case errors.Is(err, ErrOffline):
			a.Offline = true
		}
	}
	body, err := json.Marshal(a)
	if err != nil || h.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	err = h.st.AnswerDiagnostics(ctx, r.AgentID, r.ID, time.Now().UTC(), body)
	if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
		h.log.Error("store the answer to a diagnostics request", "agent", r.AgentID, "err", err)
	}
}

// sweepDiagnostics runs the waiting requests whose change this replica
// may have missed.
func (h *Hub) sweepDiagnostics(ctx context.Context) {
	rs, err := h.st.PendingDiagnostics(ctx, time.Now().Add(-DiagnoseTimeout))
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("sweep: list the waiting diagnostics requests", "err", err)
		}
		return
	}
	for _, r := range rs {
		h.answer(r)
	}
}
