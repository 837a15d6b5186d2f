package store

import (
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// ConnectionError is one of a connection's errors: Codat's
// dataConnectionError. It is raised (Active) when a fact about the
// connection goes wrong (its agent offline too long, its book missing)
// and Resolved when the fact is right again; a connection has at most one
// Active error of each kind (StatusText).
type ConnectionError struct {
	// StatusCode is the HTTP status that best says what went wrong, as a
	// string, as Codat's ("503" for an agent offline).
	StatusCode string `json:"statusCode"`
	// StatusText is the error's kind, one of the ConnErr* constants: stable,
	// for code to match.
	StatusText string `json:"statusText"`
	// ErrorMessage says what happened, for a person.
	ErrorMessage string                `json:"errorMessage"`
	ErroredOn    time.Time             `json:"erroredOnUtc"`
	Status       ConnectionErrorStatus `json:"status"`
	// ResolvedOn is when a Resolved error was resolved.
	ResolvedOn time.Time `json:"resolvedOnUtc,omitzero"`
}

// ConnectionErrorStatus says whether a connection error still holds.
type ConnectionErrorStatus string

// The connection error statuses, as Codat spells them.
const (
	ErrorActive   ConnectionErrorStatus = "Active"
	ErrorResolved ConnectionErrorStatus = "Resolved"
)

// The kinds of connection error (ConnectionError.StatusText).
const (
	// ConnErrAgentOffline: the connection's agent has been offline for
	// longer than the coordinator's --agent-offline-after.
	ConnErrAgentOffline = "AgentOffline"
	// ConnErrCredentialRevoked: the agent's credential was revoked; the
	// connection is Deauthorized until it is linked again.
	ConnErrCredentialRevoked = "CredentialRevoked"
	// ConnErrAgentOutdated: the agent speaks no protocol version the
	// coordinator does; it must be updated.
	ConnErrAgentOutdated = "AgentOutdated"
	// ConnErrBookMissing, ConnErrBookLocked, ConnErrBookUnreadable: the
	// last fetch found the book (or folder) missing, locked by the
	// accounting program, or unreadable.
	ConnErrBookMissing    = protocol.FetchBookMissing
	ConnErrBookLocked     = protocol.FetchBookLocked
	ConnErrBookUnreadable = protocol.FetchBookUnreadable
	// ConnErrLinkCodeExpired: an agent tried to link the connection with
	// its link code after the code expired; the connection is not linked
	// until the end user links it with a new code.
	ConnErrLinkCodeExpired = "LinkCodeExpired"
)

// ConnErrKinds lists every kind of connection error.
var ConnErrKinds = []string{
	ConnErrAgentOffline, ConnErrCredentialRevoked, ConnErrAgentOutdated,
	ConnErrBookMissing, ConnErrBookLocked, ConnErrBookUnreadable,
	ConnErrLinkCodeExpired,
}

// MaxResolvedErrors is how many Resolved errors a connection keeps, the
// newest: the Active ones are all kept (one per kind at most).
const MaxResolvedErrors = 10
