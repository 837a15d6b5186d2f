package hub

import (
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// The minimum agent version (Config.MinAgentVersion, --min-agent-version).
// An agent whose hello says an older version (rules.BelowMinimum: one
// that is not a release version counts as older) is welcomed, so that it
// can update, but is offered no work and its claims are refused with
// CodeBusy; what it already holds it may finish. Once a connection, an
// agent event (BelowMinimumVersion) says so. An agent whose hello lists
// FeatureUpdate is sent update, reason "minimumVersion", to the newest
// verified release at or above the minimum, whatever its update policy:
// the minimum wins over a pin. It is sent again at a heartbeat with
// nothing in hand, at most every minimumRetry, until the agent refuses it
// for good (CodeUpdateRefused): an agent that answered busy, or whose
// update failed, is asked again; one updating already acknowledges the
// repeat and changes nothing (the update contract).

// minimumRetry is how often an agent below the minimum is sent update
// again.
const minimumRetry = 30 * time.Second

// minimumState is the update of a connection below the minimum, set by
// the handshake and then used by its readers (run, then read), one at a
// time, only.
type minimumState struct {
	version string    // the hello's version
	sentID  string    // the last update's message id
	sent    time.Time // when it was sent
	refused bool      // the agent refused it for good
}

// BelowMinimum reports whether an agent of version is below the
// coordinator's minimum (none without --min-agent-version).
func (h *Hub) BelowMinimum(version string) bool {
	return rules.BelowMinimum(version, h.cfg.MinAgentVersion)
}

// MinimumVersion is the coordinator's minimum agent version; "" when none.
func (h *Hub) MinimumVersion() string { return h.cfg.MinAgentVersion }

// minimumTarget is the release an agent below the minimum is told to run
// (rules.MinimumTarget over the verified releases); false when none is
// new enough.
func (h *Hub) minimumTarget() (string, bool) {
	if h.cfg.Releases == nil {
		return "", false
	}
	list, err := h.cfg.Releases.List()
	if err != nil {
		h.log.Error("list agent releases", "err", err)
		return "", false
	}
	var verified []string
	for _, r := range list {
		if r.Verified {
			verified = append(verified, r.Version)
		}
	}
	return rules.MinimumTarget(verified, h.cfg.MinAgentVersion)
}

// belowMinimumStarted, on a welcomed connection below the minimum,
// records the BelowMinimumVersion event and sends the first update.
func (c *agentConn) belowMinimumStarted() {
	if c.min == nil {
		return
	}
	detail := fmt.Sprintf("version %q is below the minimum %s: no work is offered until it updates", c.min.version, c.h.cfg.MinAgentVersion)
	target, ok := c.h.minimumTarget()
	switch {
	case !slices.Contains(c.features, protocol.FeatureUpdate):
		detail += "; it cannot update itself (its hello lists no update feature): install a newer version"
	case !ok:
		detail += "; no verified release is at or above the minimum to update it to"
	default:
		c.sendMinimumUpdate(target)
		detail += "; told to update to " + target
	}
	c.h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventBelowMinimumVersion, RemoteAddress: c.remote, Detail: detail})
	c.logger().Warn("agent below the minimum version", "version", c.min.version, "minimum", c.h.cfg.MinAgentVersion, "update", target)
}

// retryMinimumUpdate sends update again at a heartbeat with nothing in
// hand, minimumRetry after the last, until the agent refuses it.
func (c *agentConn) retryMinimumUpdate(inHand int) {
	m := c.min
	if m == nil || m.refused || inHand > 0 || m.sentID == "" || c.h.now().Sub(m.sent) < minimumRetry {
		return
	}
	if target, ok := c.h.minimumTarget(); ok {
		c.sendMinimumUpdate(target)
	}
}

// sendMinimumUpdate tells the agent to run version, reason
// "minimumVersion". The time is read before the message goes: read after,
// it could be later than the agent's answer to it.
func (c *agentConn) sendMinimumUpdate(version string) {
	sent := c.h.now()
	c.min.sentID, c.min.sent = c.sendUpdate(version, "minimumVersion"), sent
}

// minimumAnswered takes the agent's answer to the minimum's update: a
// refusal for good stops the repeats and is an event.
func (c *agentConn) minimumAnswered(m protocol.Message) {
	if c.min == nil || m.ReplyTo == "" || m.ReplyTo != c.min.sentID || m.Type != protocol.TypeError || m.Error.Code != protocol.CodeUpdateRefused {
		return
	}
	c.min.refused = true
	c.h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventBelowMinimumVersion, RemoteAddress: c.remote,
		Detail: "the agent refused the update to the minimum: " + m.Error.Message})
}

// refuseBelowMinimum refuses a claim of an agent below the minimum;
// false when the agent is not.
func (c *agentConn) refuseBelowMinimum(m protocol.Message) bool {
	if c.min == nil {
		return false
	}
	c.enqueue(errorReply(m.ID, protocol.CodeBusy, fmt.Sprintf(
		"this agent's version %q is below the coordinator's minimum %s: no work is given until it updates",
		c.min.version, c.h.cfg.MinAgentVersion)))
	return true
}
