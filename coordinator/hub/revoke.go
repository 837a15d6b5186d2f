package hub

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// RevokeAgent revokes an agent's credential: every later call with the
// credential is refused (and recorded), its Linked connections become
// Deauthorized (so their link pages offer a new code, and their queued work
// ends in AuthError), and a CredentialRevoked event with reason why is
// recorded. The agent record stays. Idempotent: revoking again changes
// nothing. store.ErrNotFound when the agent does not exist. The hub of any
// coordinator on the store closes the agent's live connection when the
// change feed brings the revocation. The API's POST /agents/{id}/revoke
// and the Portal's "Revoke credential" button both call it; why says
// through which.
func (h *Hub) RevokeAgent(ctx context.Context, agentID, why string) error {
	return h.revokeCredential(ctx, agentID, h.now().UTC(), why)
}

// revokeCredential is RevokeAgent's part in the store.
func (h *Hub) revokeCredential(ctx context.Context, agentID string, at time.Time, why string) error {
	st, first := h.st, false
	_, err := st.UpdateAgent(ctx, agentID, func(a *store.Agent) error {
		if a.Revoked.IsZero() {
			a.Revoked, first = at, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	conns, err := st.AgentConnections(ctx, agentID)
	if err != nil {
		return err
	}
	for _, c := range conns {
		if c.Status != store.Linked {
			continue
		}
		_, err := st.UpdateConnection(ctx, c.CompanyID, c.ID, func(c *store.Connection) error {
			if c.Status == store.Linked {
				c.Status = store.Deauthorized
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if !first {
		return nil
	}
	return st.AddAgentEvent(ctx, store.AgentEvent{ID: uuid.Must(uuid.NewV7()).String(), AgentID: agentID, At: at,
		Type: store.EventCredentialRevoked, Reason: why})
}
