package store

import (
	"time"
)

// Agent is an installed connector agent.
type Agent struct {
	ID             string    `json:"id"`
	CredentialHash []byte    `json:"credentialHash"`
	Created        time.Time `json:"created"`
	Hostname       string    `json:"hostname,omitempty"`
	OS             string    `json:"os,omitempty"`
	Version        string    `json:"version,omitempty"`
	// Features are the optional messages the agent understood when it
	// last connected (its hello's protocol.Feature* names).
	Features []string `json:"features,omitempty"`
	// LogLevel is the log level support raised the agent's to, until
	// LogLevelUntil; both empty when support raised none (or after it
	// ended, whichever the next raise finds).
	LogLevel      string    `json:"logLevel,omitempty"`
	LogLevelUntil time.Time `json:"logLevelUntil,omitzero"`
	// LastSeen is when the agent's connection last opened or closed.
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Revoked is when the client revoked the agent's credential; zero
	// while it is valid. A revoked agent is kept, so its events and its
	// record stay readable, and AgentByCredential still finds it: the
	// caller refuses it (and can say whose credential was refused).
	Revoked time.Time `json:"revoked,omitzero"`
	// Offline is when the coordinator reported the agent offline (it had
	// been for longer than --agent-offline-after: the AgentOffline error
	// of its connections, agent.offline); zero while it is not.
	Offline time.Time `json:"offline,omitzero"`
	// UpdatePolicy says whether rollouts update the agent: UpdateAuto
	// (also when empty) or UpdatePinned. A minimum version
	// (--min-agent-version) updates a pinned agent all the same.
	UpdatePolicy string `json:"updatePolicy,omitempty"`
	// Update is the agent's last update, as it reported it; nil before
	// its first.
	Update *AgentUpdate `json:"update,omitempty"`
	// UpdateAsk is the update last asked of it; nil when none was.
	UpdateAsk *UpdateAsk `json:"updateAsk,omitempty"`
}

// The update policies of an agent (Agent.UpdatePolicy).
const (
	// UpdateAuto: rollouts update the agent; the default.
	UpdateAuto = "auto"
	// UpdatePinned: rollouts leave the agent at its version.
	UpdatePinned = "pinned"
)

// Policy is the agent's update policy, UpdateAuto when none was set.
func (a Agent) Policy() string {
	if a.UpdatePolicy == "" {
		return UpdateAuto
	}
	return a.UpdatePolicy
}

// Page is one staged upload page.
type Page struct {
	AgentID   string `json:"agentId"`
	DatasetID string `json:"datasetId"`
	LeaseID   string `json:"leaseId"`
	N         int    `json:"n"`
	Records   int    `json:"records"`
	// Data is the page's uncompressed NDJSON.
	Data []byte `json:"data"`
	// Lines, when the uploader gives them to PutPage, are where Data's
	// records are and their ids, as the upload's decoding found them: they
	// are stored with the page so that PublishCache need not parse the
	// records again. They are trusted, not checked against Data. Pages
	// leaves them empty.
	Lines []Line `json:"-"`
}

// Line is one record of a page: its id and where its JSON object is in
// the page's Data.
type Line struct {
	ID         string
	Start, End int
}
