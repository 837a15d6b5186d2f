// Package protocol is the wire contract between an agent and the
// coordinator: the control channel's JSON messages over one websocket, the
// error codes both sides use, and the limits each side enforces on what it
// receives. The data plane (uploads) is plain HTTP; its paths and headers
// are here too.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// Version is the control-channel protocol version this build speaks.
const Version = 1

// Paths and headers of the agent endpoints.
const (
	ConnectPath   = "/agent/v1/connect"
	LinkPath      = "/agent/v1/link"
	UnlinkPath    = "/agent/v1/unlink"
	DatasetsPath  = "/agent/v1/datasets/" // + {id}/pages/{n} or {id}/commit
	ReleasesPath  = "/agent/v1/releases/" // + {version}/{file}: a verified release's archive, release.json or .sig; Range answered
	LeaseHeader   = "X-Ferry-Lease"
	RecordsHeader = "X-Ferry-Records"
	// PageBytesHeader is an uploaded page's size uncompressed, in bytes.
	PageBytesHeader = "X-Ferry-Page-Bytes"
)

// Limits on what either side accepts.
const (
	MaxMessageBytes      = 64 << 10 // one control message
	MaxPageBytes         = 4 << 20  // one uploaded page, compressed
	MaxPageExpandedBytes = 32 << 20 // one page, uncompressed
	MaxPageRecords       = 5000     // records in one page
	MaxRecordBytes       = 1 << 20  // one NDJSON line
	MaxPages             = 100000   // pages in one dataset
	MaxBindings          = 200      // connections one agent serves
	// PagesInFlight is how many pages of one dataset an agent has sent
	// and not yet seen answered, at most; the last page, or the commit,
	// goes once every earlier page is answered.
	PagesInFlight = 4
	// UploadsPerAgent is how many upload requests (pages, last pages,
	// commits) an agent has in flight at most, all its datasets
	// together: the coordinator holds an agent's credential to as many
	// (more are answered 429), and the agent's page writers share a
	// window of as many. Two datasets' pages in flight.
	UploadsPerAgent = 2 * PagesInFlight
)

// Type says what a message is.
type Type string

// The message types. The agent sends hello first; the coordinator answers
// welcome or error and closes.
const (
	TypeHello     Type = "hello"     // agent: who it is, what it serves, leases it holds
	TypeWelcome   Type = "welcome"   // coordinator: accepted; timings; resumed leases
	TypeOffer     Type = "offer"     // coordinator: a dataset is queued for you
	TypeClaim     Type = "claim"     // agent: I take that dataset
	TypeClaimed   Type = "claimed"   // coordinator: it is yours, under this lease
	TypeReport    Type = "report"    // agent: a status transition or progress
	TypeHeartbeat Type = "heartbeat" // agent: alive; renews its leases
	TypeAck       Type = "ack"       // either: your message (ReplyTo) is done
	TypeError     Type = "error"     // either: your message (ReplyTo) is refused
	TypeRevoked   Type = "revoked"   // coordinator: a binding of yours ended
)

// Code is a machine-readable refusal, never matched as text.
type Code string

// The refusal codes.
const (
	CodeBadMessage   Code = "bad_message"         // not a valid message
	CodeVersion      Code = "unsupported_version" // no common protocol version
	CodeNotFound     Code = "not_found"           // no such dataset for this agent
	CodeStaleLease   Code = "stale_lease"         // the lease no longer holds the dataset
	CodeNotQueued    Code = "not_queued"          // claimed by someone else, or gone
	CodeTransition   Code = "transition_refused"  // the state machine refuses it
	CodeTooLarge     Code = "too_large"           // over a limit
	CodeUnauthorized Code = "unauthorized"        // credential unknown or revoked
	CodeBadCode      Code = "bad_link_code"       // link code unknown, used or expired
	CodeRateLimited  Code = "rate_limited"        // too many attempts; wait
	CodeBusy         Code = "busy"                // at a limit for now; retry later
	CodeInternal     Code = "internal"            // a fault on the other side; retry
	// CodeNotUpgrade: a request to the control channel came without the
	// websocket upgrade (a proxy on the way may have removed it).
	CodeNotUpgrade Code = "not_websocket_upgrade"
)

// BusyRetry is how long an agent the coordinator refuses as busy waits at
// least before it dials again, when the refusal does not say (a busy
// error in the handshake); a refused upgrade says it in its Retry-After,
// from the coordinator's queue. The agent adds up to a second and a
// quarter of it more (agent/worker's BusyError).
const BusyRetry = 5 * time.Second

// Message is the envelope of every control message: a type, the sender's
// id for it, the id it answers, and the one payload its type calls for.
type Message struct {
	Type      Type       `json:"type"`
	ID        string     `json:"id"`
	ReplyTo   string     `json:"replyTo,omitempty"`
	Hello     *Hello     `json:"hello,omitempty"`
	Welcome   *Welcome   `json:"welcome,omitempty"`
	Offer     *Offer     `json:"offer,omitempty"`
	Claim     *Claim     `json:"claim,omitempty"`
	Claimed   *Claimed   `json:"claimed,omitempty"`
	Report    *Report    `json:"report,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	Error     *Error     `json:"error,omitempty"`
	Revoked   *Revoked   `json:"revoked,omitempty"`
	// The diagnostics pair (diagnostics.go).
	Diagnose    *Diagnose    `json:"diagnose,omitempty"`
	Diagnostics *Diagnostics `json:"diagnostics,omitempty"`
	// Support from afar (support.go).
	SupportBundle *SupportBundle `json:"supportBundle,omitempty"`
	LogLevel      *LogLevel      `json:"logLevel,omitempty"`
	// Updates (update.go).
	Update       *Update       `json:"update,omitempty"`
	UpdateStatus *UpdateStatus `json:"updateStatus,omitempty"`
}

// Hello opens a connection.
type Hello struct {
	Versions     []int     `json:"versions"`
	AgentVersion string    `json:"agentVersion"`
	Hostname     string    `json:"hostname"`
	OS           string    `json:"os"`
	Bindings     []Binding `json:"bindings"`
	// Leases the agent still holds from before a reconnect.
	Leases []Lease `json:"leases,omitempty"`
	// Capacity is how many datasets the agent works on at once.
	Capacity int `json:"capacity"`
	// Features are the optional messages the agent understands (the
	// Feature* names). Optional and additive: an older agent lists none.
	Features []string `json:"features,omitempty"`
}

// Binding is one connection the agent serves and the data types its source
// can provide.
type Binding struct {
	ConnectionID string             `json:"connectionId"`
	DataTypes    []dataset.DataType `json:"dataTypes"`
}

// Lease names a dataset an agent holds.
type Lease struct {
	DatasetID string `json:"datasetId"`
	LeaseID   string `json:"leaseId"`
}

// Welcome accepts a connection.
type Welcome struct {
	Version int    `json:"version"`
	AgentID string `json:"agentId"`
	// HeartbeatMillis is how often the agent sends a heartbeat.
	HeartbeatMillis int64 `json:"heartbeatMillis"`
	// LeaseMillis is how long a lease lasts without a heartbeat.
	LeaseMillis int64     `json:"leaseMillis"`
	ServerTime  time.Time `json:"serverTime"`
	// Resumed are the hello's leases that still hold; the others are gone
	// and the agent drops that work.
	Resumed []Lease `json:"resumed,omitempty"`
	// Features are the hello's features this coordinator takes up
	// (FeatureLastPage). Optional and additive: an older coordinator
	// lists none, and an older agent ignores the field.
	Features []string `json:"features,omitempty"`
}

// Offer tells the agent a dataset is queued on one of its connections.
type Offer struct {
	DatasetID    string           `json:"datasetId"`
	CompanyID    string           `json:"companyId"`
	ConnectionID string           `json:"connectionId"`
	DataType     dataset.DataType `json:"dataType"`
	Attempt      int              `json:"attempt"`
}

// Claim asks for an offered dataset.
type Claim struct {
	DatasetID string `json:"datasetId"`
}

// Claimed grants a claim.
type Claimed struct {
	Offer
	LeaseID string `json:"leaseId"`
}

// Report is a transition the agent makes (To differs from the current
// status) or progress within its current status (To equals it).
type Report struct {
	CompanyID string         `json:"companyId"`
	DatasetID string         `json:"datasetId"`
	LeaseID   string         `json:"leaseId"`
	To        dataset.Status `json:"to"`
	Message   string         `json:"message,omitempty"`
	Progress  int            `json:"progress,omitempty"`
	// Warnings are what the agent's source noticed that does not fail the
	// dataset (the book was open in GnuCash), sent with the Mapping report.
	// The coordinator keeps them with the dataset, among its validation
	// warnings and in its statusDescription. Optional and additive: an
	// older agent sends none, and an older coordinator ignores the field.
	Warnings []Warning `json:"warnings,omitempty"`
	// ErrorCode, with To FetchError, says what kind of failure it was: one
	// of the Fetch* kinds. The coordinator raises the matching error on the
	// connection (its dataConnectionErrors) until a fetch succeeds.
	// Optional and additive, as Warnings.
	ErrorCode string `json:"errorCode,omitempty"`
}

// The kinds of FetchError a report's ErrorCode names.
const (
	FetchBookMissing    = "BookMissing"    // the book (or folder) does not exist
	FetchBookLocked     = "BookLocked"     // the accounting program holds it locked
	FetchBookUnreadable = "BookUnreadable" // it cannot be read, or is not a book
)

// Warning is one thing a source noticed: a rule id such as
// "source.bookOpen" and a message for a person.
type Warning struct {
	RuleID  string `json:"ruleId"`
	Message string `json:"message"`
}

// Limits on a report's warnings.
const (
	MaxWarnings            = 8    // warnings in one report
	MaxWarningRuleIDBytes  = 64   // a warning's ruleId
	MaxWarningMessageBytes = 1024 // a warning's message
)

// Heartbeat says the agent is alive and renews its leases.
type Heartbeat struct {
	SentAt time.Time `json:"sentAt"`
	// RTTMillis is the round trip of the previous heartbeat, for support.
	RTTMillis int64 `json:"rttMillis,omitempty"`
	// InHand are the datasets the agent is working on, with progress.
	InHand []Progress `json:"inHand,omitempty"`
}

// Progress is one dataset in an agent's hands.
type Progress struct {
	DatasetID string `json:"datasetId"`
	Progress  int    `json:"progress"`
}

// Error refuses a message.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Revoked tells the agent a binding ended (unlinked, deleted).
type Revoked struct {
	ConnectionID string `json:"connectionId"`
	Reason       string `json:"reason"`
}

// ErrBadMessage wraps every reason Decode refuses a message.
var ErrBadMessage = errors.New("bad message")

// Decode parses and checks one control message: size, JSON, a known type
// with its payload present and its fields within bounds.
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessageBytes {
		return m, fmt.Errorf("%w: %d bytes is over %d", ErrBadMessage, len(b), MaxMessageBytes)
	}
	if hb, ok := decodeHeartbeat(b); ok {
		m = hb
	} else if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return m, nil
}
