package badgerstore

import (
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// The record* methods note in the transaction's change what its writes
// mean to the feed's subscribers. Each write point calls one; update
// publishes the change of the run that commits.

// recordDataset notes d, which was old before (nil for a new dataset),
// when it is new or moved to another status.
func (t *tx) recordDataset(old, d *store.Dataset) {
	c := store.DatasetChange{ID: d.ID, CompanyID: d.CompanyID, ConnectionID: d.ConnectionID, DataType: d.DataType, To: d.Status}
	if old != nil {
		if old.Status == d.Status {
			return
		}
		c.From = old.Status
	}
	t.change.Datasets = append(t.change.Datasets, c)
}

// recordConnection notes c, which was old before (nil for a new
// connection; c nil for a deleted one), when it is new, deleted, moved to
// another status or bound to another agent.
func (t *tx) recordConnection(old, c *store.Connection) {
	var ch store.ConnectionChange
	switch {
	case c == nil:
		ch = store.ConnectionChange{ID: old.ID, CompanyID: old.CompanyID, From: old.Status, AgentID: old.AgentID}
	case old == nil:
		ch = store.ConnectionChange{ID: c.ID, CompanyID: c.CompanyID, To: c.Status, AgentID: c.AgentID}
	case old.Status == c.Status && old.AgentID == c.AgentID:
		return
	default:
		ch = store.ConnectionChange{ID: c.ID, CompanyID: c.CompanyID, From: old.Status, To: c.Status, AgentID: c.AgentID}
	}
	t.change.Connections = append(t.change.Connections, ch)
}

// recordAgent notes a, which was old before (nil for a new agent), when
// its credential was revoked by this write.
func (t *tx) recordAgent(old *store.Agent, a store.Agent) {
	if !a.Revoked.IsZero() && (old == nil || old.Revoked.IsZero()) {
		t.change.RevokedAgents = append(t.change.RevokedAgents, a.ID)
	}
}

// recordDelivery notes a webhook delivery put in the outbox.
func (t *tx) recordDelivery() { t.change.Deliveries++ }

// recordSync notes a scheduled sync armed to be due at due (zero: none).
func (t *tx) recordSync(due time.Time) { t.change.ArmSync(due) }
