package worker

import (
	"encoding/json"
	"os"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// Status is what `ferry-agent status` shows: written to StatusFile.
type Status struct {
	Connected      bool      `json:"connected"`
	ConnectedSince time.Time `json:"connectedSince,omitzero"`
	AgentID        string    `json:"agentId,omitempty"`
	RTTMillis      int64     `json:"rttMillis"`
	// HeartbeatMillis is how often the status is rewritten while connected.
	HeartbeatMillis int64               `json:"heartbeatMillis,omitempty"`
	InHand          []protocol.Progress `json:"inHand"`
	LastError       string              `json:"lastError,omitempty"`
	Updated         time.Time           `json:"updated"`
}

// Status returns the agent's current status.
func (w *Worker) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

func (w *Worker) setStatus(fn func(*Status)) {
	w.mu.Lock()
	fn(&w.status)
	w.mu.Unlock()
	w.writeStatus()
}

// writeStatus saves the status for `ferry-agent status`.
func (w *Worker) writeStatus() {
	if w.cfg.StatusFile == "" {
		return
	}
	st := w.Status()
	st.InHand = w.inHand()
	st.Updated = time.Now().UTC()
	raw, _ := json.MarshalIndent(st, "", "  ")
	tmp := w.cfg.StatusFile + ".tmp"
	if os.WriteFile(tmp, raw, 0o600) == nil {
		_ = os.Rename(tmp, w.cfg.StatusFile)
	}
}

func (w *Worker) current() *session {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.session
}

// attach makes s the live session: jobs whose lease did not survive are
// dropped, and unacknowledged reports are sent again.
func (w *Worker) attach(s *session, welcome *protocol.Welcome) {
	w.mu.Lock()
	w.session = s
	w.waiting = nil
	for id, j := range w.jobs {
		if !slices.ContainsFunc(welcome.Resumed, func(l protocol.Lease) bool { return l.DatasetID == id }) {
			w.log.Warn("lease lost while offline; dropping the dataset", "dataset", id)
			j.cancel()
		}
	}
	w.status.Connected, w.status.ConnectedSince, w.status.AgentID, w.status.LastError = true, time.Now().UTC(), welcome.AgentID, ""
	w.status.HeartbeatMillis = s.heartbeat.Milliseconds()
	w.mu.Unlock()
	w.outbox.resend(s)
	w.sendUpdateStatuses(s)
	w.writeStatus()
}

func (w *Worker) detach(s *session) {
	w.mu.Lock()
	if w.session == s {
		w.session = nil
	}
	w.startGathered(nil) // the claims of s will not be answered
	w.status.Connected = false
	w.mu.Unlock()
	w.writeStatus()
}

func (w *Worker) leases() []protocol.Lease {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]protocol.Lease, 0, len(w.jobs))
	for id, j := range w.jobs {
		out = append(out, protocol.Lease{DatasetID: id, LeaseID: j.claimed.LeaseID})
	}
	return out
}

func (w *Worker) inHand() []protocol.Progress {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]protocol.Progress, 0, len(w.jobs))
	for id, j := range w.jobs {
		out = append(out, protocol.Progress{DatasetID: id, Progress: int(j.progress.Load())})
	}
	return out
}

func (w *Worker) bindings() []Binding {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.cfg.Bindings)
}

func (w *Worker) binding(connectionID string) (Binding, bool) {
	for _, b := range w.bindings() {
		if b.ConnectionID == connectionID {
			return b, true
		}
	}
	return Binding{}, false
}

// SetBindings replaces the agent's bindings (after `ferry-agent link` added
// one to the config file) and reconnects, so the coordinator learns them
// from a new hello. Datasets in hand carry on: their leases resume.
func (w *Worker) SetBindings(bs []Binding) {
	w.mu.Lock()
	w.cfg.Bindings = slices.Clone(bs)
	s := w.session
	w.mu.Unlock()
	if s != nil {
		_ = s.ws.Close()
	}
}

// revoke drops a binding the coordinator ended, and its work.
func (w *Worker) revoke(connectionID, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.cfg.Bindings)
	w.cfg.Bindings = slices.DeleteFunc(w.cfg.Bindings, func(b Binding) bool { return b.ConnectionID == connectionID })
	held := false
	for _, j := range w.jobs {
		if j.claimed.ConnectionID == connectionID {
			j.cancel()
			held = true
		}
	}
	if n == len(w.cfg.Bindings) && !held {
		w.ignored.log(w.log, "ignored revocations of connections the agent does not serve", "connection", connectionID)
		return
	}
	w.log.Warn("binding revoked by the coordinator", "connection", connectionID, "reason", reason)
}
