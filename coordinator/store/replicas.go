package store

import "time"

// What the coordinator's replicas share through the store: who holds each
// agent's control channel, the leases that make one replica do what must
// run once, the Portal's sessions, the counts of failed authentications
// and the diagnostics asked of an agent through another replica. One
// replica on Badger keeps them too, alone.

// Channel is who holds an agent's control channel.
type Channel struct {
	AgentID string
	// Replica is the id of the replica holding the channel; empty when
	// none does (released, or never claimed).
	Replica string
	// Epoch is the number of the channel's last claim: 1 for the first,
	// one more for each claim after. A release keeps it.
	Epoch uint64
}

// Session is a browser signed in to the Portal.
type Session struct {
	// ID is the SHA-256 of the session cookie's value (32 bytes): the
	// store never holds the value itself.
	ID []byte
	// KeyID and KeyHash name the API key that signed in; KeyName and
	// Scope are what it was when it did.
	KeyID   string
	KeyHash []byte
	KeyName string
	Scope   Scope
	// CSRF is the token every form of the session carries.
	CSRF string
	// Created is when the session signed in; Seen when it was last used
	// (as the Portal last touched it).
	Created, Seen time.Time
	// Notes are what the session's next page shows once (a flash
	// message, a diagnostics result), encoded by the Portal (the store
	// never reads them); at most MaxSessionNotes bytes.
	Notes []byte `json:",omitempty"`
}

// DiagnosticsRequest is a request for an agent's diagnostics made on a
// replica other than the one holding its channel, which runs it and
// stores the answer here for the replica that asked. An agent has one at
// most: a newer request replaces the last.
type DiagnosticsRequest struct {
	AgentID string
	// ID names the request.
	ID string
	// Replica is the replica that held the agent's channel when the
	// request was made.
	Replica string
	// Asked is when the request was made; Answered when its answer was
	// stored, zero while it waits.
	Asked, Answered time.Time
	// Answer is what the replica holding the channel answered, encoded by
	// the hub (the store never reads it); at most MaxDiagnosticsAnswer
	// bytes.
	Answer []byte
}

// MaxDiagnosticsAnswer bounds a diagnostics answer: an agent's report is
// one control message (64 KiB at most) and the coordinator's clock check.
const MaxDiagnosticsAnswer = 128 << 10

// MaxSessionNotes bounds a Portal session's notes: a flash message and a
// diagnostics report.
const MaxSessionNotes = 128 << 10

// Refusals are the refusals of an agent's revoked credential counted in
// a window after its first.
type Refusals struct {
	AgentID string
	// Since is when the window began; N is how many refusals it counted
	// after its first.
	Since time.Time
	N     int
	// Last is the latest refusal ("METHOD path"), Remote its address.
	Last, Remote string
}
