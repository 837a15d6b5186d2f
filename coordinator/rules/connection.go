package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// checkConnection refuses a connection that is not well formed.
func checkConnection(c store.Connection) error {
	if err := CheckID("company", c.CompanyID); err != nil {
		return err
	}
	if err := CheckID("connection", c.ID); err != nil {
		return err
	}
	switch c.Status {
	case store.PendingAuth, store.Linked, store.Unlinked, store.Deauthorized:
	default:
		return fmt.Errorf("connection %s: unknown status %q", c.ID, c.Status)
	}
	if c.AgentID != "" {
		return CheckID("agent", c.AgentID)
	}
	return nil
}

// CheckNewConnection refuses a connection or link code that is not well
// formed, fills in the code's owner, and puts times in UTC.
func CheckNewConnection(c *store.Connection, code *store.LinkCode) error {
	if err := checkConnection(*c); err != nil {
		return err
	}
	if err := CheckLinkCode(code, c.CompanyID, c.ID); err != nil {
		return err
	}
	c.Created, c.LastSync, c.LinkCodeExpires = c.Created.UTC(), c.LastSync.UTC(), code.Expires
	return nil
}

// CheckLinkCode refuses a link code that is not for connection co/conn,
// fills in the code's owner when it names none, and puts its expiry in UTC.
func CheckLinkCode(code *store.LinkCode, co, conn string) error {
	if err := CheckHash("link code", code.Hash); err != nil {
		return err
	}
	if code.CompanyID == "" && code.ConnectionID == "" {
		code.CompanyID, code.ConnectionID = co, conn
	}
	if code.CompanyID != co || code.ConnectionID != conn {
		return fmt.Errorf("link code is for connection %s/%s, not %s/%s",
			code.CompanyID, code.ConnectionID, co, conn)
	}
	code.Expires = code.Expires.UTC()
	return nil
}

// ConnectionChange is what follows from a connection's change beyond its
// own record.
type ConnectionChange struct {
	// EndWork: the connection's queued and in-flight datasets are ended
	// (EndWork on each).
	EndWork bool
	// DropCodes: the connection's link codes are deleted.
	DropCodes bool
}

// ChangeConnection checks c, the connection old after a caller's change,
// puts its times in UTC and says what follows. A connection withdrawn
// (Unlinked or Deauthorized) ends its work, if it had any, and loses its
// link code, which could otherwise undo the withdrawal. Unlinking an
// Unlinked connection again voids the code the client issued it since; a
// Deauthorized one keeps the code its link page issued. A change of
// status raises and resolves the connection's errors at now
// (withdrawErrors).
func ChangeConnection(old store.Connection, c *store.Connection, now time.Time) (ConnectionChange, error) {
	if c.ID != old.ID || c.CompanyID != old.CompanyID {
		return ConnectionChange{}, fmt.Errorf("update connection %s: the ids cannot change", old.ID)
	}
	if err := checkConnection(*c); err != nil {
		return ConnectionChange{}, err
	}
	c.Created, c.LastSync, c.LinkCodeExpires = c.Created.UTC(), c.LastSync.UTC(), c.LinkCodeExpires.UTC()
	withdrawErrors(old, c, now)
	withdrawn := c.Status == store.Unlinked || c.Status == store.Deauthorized
	if !withdrawn || (old.Status == c.Status && c.Status != store.Unlinked) {
		return ConnectionChange{}, nil
	}
	c.LinkCodeExpires = time.Time{}
	return ConnectionChange{
		EndWork:   old.Status == store.Linked || old.Status == store.PendingAuth,
		DropCodes: true,
	}, nil
}

// CodeExpired reports whether code can no longer be redeemed at now.
func CodeExpired(code store.LinkCode, now time.Time) bool {
	return !now.Before(code.Expires)
}

// Redeem links c to agentID, as redeeming its link code does at now: the
// errors of the agent it had are resolved; Links counts the link.
func Redeem(c *store.Connection, agentID string, now time.Time) {
	old := *c
	c.Status, c.AgentID, c.LinkCodeExpires = store.Linked, agentID, time.Time{}
	c.Links++
	withdrawErrors(old, c, now)
}

// CanReplaceCode is nil when a connection in status may be given a new link
// code by a caller that allows the statuses from: store.ErrLinked for a
// Linked connection, store.ErrCodeRefused for another status not in from.
func CanReplaceCode(c store.Connection, from []store.ConnectionStatus) error {
	switch {
	case c.Status == store.Linked:
		return fmt.Errorf("replace link code of %s: %w", c.ID, store.ErrLinked)
	case !slices.Contains(from, c.Status):
		return fmt.Errorf("replace link code of %s (%s): %w", c.ID, c.Status, store.ErrCodeRefused)
	}
	return nil
}

// ChangeCompany checks c, the company old after a caller's change, and puts
// its time in UTC.
func ChangeCompany(old store.Company, c *store.Company) error {
	if c.ID != old.ID {
		return fmt.Errorf("update company %s: the id cannot change", old.ID)
	}
	c.Created = c.Created.UTC()
	return nil
}

// CheckAgent refuses an agent that is not well formed.
func CheckAgent(a store.Agent) error {
	if err := CheckID("agent", a.ID); err != nil {
		return err
	}
	if a.UpdatePolicy != "" && a.UpdatePolicy != store.UpdatePolicyAuto && a.UpdatePolicy != store.UpdatePolicyPinned {
		return fmt.Errorf("agent %s: updatePolicy %q is not auto or pinned", a.ID, a.UpdatePolicy)
	}
	return CheckHash("agent credential", a.CredentialHash)
}

// ChangeAgent checks a, the agent old after a caller's change, and puts its
// times in UTC.
func ChangeAgent(old store.Agent, a *store.Agent) error {
	if a.ID != old.ID {
		return fmt.Errorf("update agent %s: the id cannot change", old.ID)
	}
	if err := CheckAgent(*a); err != nil {
		return err
	}
	a.Created, a.LastSeen = a.Created.UTC(), a.LastSeen.UTC()
	return nil
}
