package store

import (
	"time"
)

// AgentEventType says what happened to an agent.
type AgentEventType string

// The agent event types.
const (
	// EventConnected: the agent's control channel opened (Detail: its
	// version).
	EventConnected AgentEventType = "Connected"
	// EventDisconnected: the control channel closed; Reason says why (one
	// of the Reason* constants).
	EventDisconnected AgentEventType = "Disconnected"
	// EventCredentialRefused: a call with the agent's revoked credential
	// was refused.
	EventCredentialRefused AgentEventType = "CredentialRefused"
	// EventLeaseExpired: a lease the agent held on a dataset expired
	// (DatasetID set; Detail: the status the dataset went to).
	EventLeaseExpired AgentEventType = "LeaseExpired"
	// EventVersionChanged: the agent connected with another version than
	// before (Detail: "old -> new").
	EventVersionChanged AgentEventType = "VersionChanged"
	// EventCredentialRevoked: the client revoked the agent's credential.
	EventCredentialRevoked AgentEventType = "CredentialRevoked"
	// EventVersionRefused: the agent offered no protocol version the
	// coordinator speaks (Detail: the versions it offered); its
	// connections get the AgentOutdated error until it connects.
	EventVersionRefused AgentEventType = "VersionRefused"
	// EventLogLevelChanged: support raised the agent's log level for a
	// while, or the agent fell back to its own level (Detail says which).
	EventLogLevelChanged AgentEventType = "LogLevelChanged"
	// EventUpdatePolicyChanged: the client set the agent's update policy
	// (Detail: "old -> new").
	EventUpdatePolicyChanged AgentEventType = "UpdatePolicyChanged"
	// EventBelowMinimumVersion: the agent connected with a version older
	// than the coordinator's minimum (--min-agent-version); it is offered
	// no work. Detail names both and the update it was sent, or why none.
	EventBelowMinimumVersion AgentEventType = "BelowMinimumVersion"
	// The steps of an update, as the agent reported them
	// (protocol.UpdateStarted and the others; Detail: the reason, Update:
	// the report). Each sends the webhook event agent.update.* to the
	// consumers of the companies of the agent's connections.
	EventUpdateStarted    AgentEventType = "UpdateStarted"
	EventUpdateSucceeded  AgentEventType = "UpdateSucceeded"
	EventUpdateFailed     AgentEventType = "UpdateFailed"
	EventUpdateRolledBack AgentEventType = "UpdateRolledBack"
)

// Why a control channel closed, as EventDisconnected's Reason says it.
const (
	ReasonClosedByAgent     = "closed by agent"
	ReasonHeartbeatTimeout  = "heartbeat timeout"
	ReasonSuperseded        = "superseded by a newer connection"
	ReasonCredentialRevoked = "credential revoked"
	ReasonShutdown          = "coordinator shutting down"
	ReasonConnectionLost    = "connection lost"
)

// AgentEvent is one thing that happened to an agent.
type AgentEvent struct {
	ID        string         `json:"id"`
	AgentID   string         `json:"agentId"`
	At        time.Time      `json:"at"`
	Type      AgentEventType `json:"type"`
	Reason    string         `json:"reason,omitempty"`
	Detail    string         `json:"detail,omitempty"`
	DatasetID string         `json:"datasetId,omitempty"`
	// RemoteAddress is the address the agent called from, where known.
	RemoteAddress string `json:"remoteAddress,omitempty"`
	// Connections, on a Connected or Disconnected event, are the
	// connections whose agent the event brings online or takes offline:
	// AddAgentEvent puts their presence webhook events in the outbox. The
	// hub leaves it empty when presence does not change (a connection
	// superseded by a newer one, the coordinator stopping).
	Connections []string `json:"connections,omitempty"`
	// Update is an update event's report.
	Update *AgentUpdate `json:"update,omitempty"`
}

// PresenceEventID is the id of the presence webhook event an agent event
// makes for one connection: stable, so a retry carries it.
func PresenceEventID(agentEventID, connectionID string) string {
	return EventID("presence", agentEventID+"/"+connectionID)
}
