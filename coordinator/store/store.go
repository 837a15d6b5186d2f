// Package store holds the coordinator's state as plain values: companies,
// connections, datasets with their timelines, agents, API keys, link codes,
// sync settings and webhooks; the errors a backend returns; the id rules;
// and the change feed. It imports no storage library. What a change means
// is decided by package rules; a backend (badgerstore.Badger today) loads
// values, applies the rules and persists the result in one transaction,
// and every backend passes storetest.Run. Each part of the coordinator
// declares beside itself the few store methods it uses.
//
// Rules that must hold atomically (one non-terminal dataset per type and
// connection, a claim won by exactly one agent, a report fenced by its lease)
// are enforced inside the store's transactions, not by its callers.
//
// After a transaction commits, the backend publishes what it changed on its
// change Feed (feed.go, where the design is written down): the parts that
// react to commits subscribe to it rather than being called by the writers.
package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// Errors a backend returns; callers test them with errors.Is or errors.As.
var (
	// ErrNotFound: the company, connection, dataset, key or code does not
	// exist (or is not visible to the caller, such as another agent's dataset).
	ErrNotFound = errors.New("not found")
	// ErrExists: an object with that id already exists.
	ErrExists = errors.New("already exists")
	// ErrUnavailable: the store cannot be reached now (its database is
	// down, restarting or out of connections); nothing was acknowledged,
	// and the call may be retried.
	ErrUnavailable = errors.New("store unavailable")
	// ErrUnlinked: the connection was unlinked by the client; nothing can be
	// queued on it.
	ErrUnlinked = errors.New("connection is unlinked")
	// ErrTransition: the state machine refuses the transition.
	ErrTransition = errors.New("transition not allowed")
	// ErrStaleLease: the lease given does not hold the dataset (expired,
	// superseded, or another agent's).
	ErrStaleLease = errors.New("stale lease")
	// ErrNotQueued: a claim for a dataset that is no longer Queued.
	ErrNotQueued = errors.New("dataset is not queued")
	// ErrCodeExpired: the link code exists but has expired.
	ErrCodeExpired = errors.New("link code expired")
	// ErrLinked: the connection is linked to an agent; it needs no new link
	// code.
	ErrLinked = errors.New("connection is already linked")
	// ErrCodeRefused: the connection's status is not one a new link code
	// may be issued in by that caller (an Unlinked connection, at the link
	// page).
	ErrCodeRefused = errors.New("no link code can be issued for the connection in its status")
	// ErrTooLarge: a dataset's staged records are more than FinishUpload
	// writes in one transaction (MaxFinishRecords, MaxFinishBytes); it
	// changed nothing, and the caller takes the dataset the long way
	// (SetValidation, Report, PublishCache).
	ErrTooLarge = errors.New("dataset too large for one transaction")
	// ErrNoConnection: a queue request names no connection and the
	// company has none that is not Unlinked.
	ErrNoConnection = errors.New("company has no data connection")
	// ErrAmbiguous: a queue request names no connection and the company
	// has several that are not Unlinked.
	ErrAmbiguous = errors.New("company has several data connections; name one with connectionId")
)

// InProgressError is returned by QueueDataset when the data type already has
// a non-terminal dataset on the connection.
type InProgressError struct {
	DatasetID string
	Status    dataset.Status
}

func (e *InProgressError) Error() string {
	return fmt.Sprintf("dataset %s is already in progress (%s)", e.DatasetID, e.Status)
}

// StageProgress is the progress a dataset has on entering a status.
func StageProgress(s dataset.Status) int {
	switch s {
	case dataset.Queued:
		return 0
	case dataset.Fetching:
		return 5
	case dataset.Mapping:
		return 40
	case dataset.Validating:
		return 80
	case dataset.Processing:
		return 90
	}
	return 100
}

// MaxAttempts is how many leases a dataset may lose before it fails.
const MaxAttempts = 3

// Company is a business sharing its data.
type Company struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Created     time.Time         `json:"created"`
	// SyncWindow is the company's default window for its connections;
	// nil when it set none (the client's applies).
	SyncWindow *SyncWindow `json:"syncWindow,omitempty"`
}

// ConnectionStatus is a connection's state, as Codat spells it.
type ConnectionStatus string

// The connection statuses.
const (
	PendingAuth  ConnectionStatus = "PendingAuth"
	Linked       ConnectionStatus = "Linked"
	Unlinked     ConnectionStatus = "Unlinked"
	Deauthorized ConnectionStatus = "Deauthorized"
)

// Connection links a company to one local data source through an agent.
type Connection struct {
	ID          string           `json:"id"`
	CompanyID   string           `json:"companyId"`
	PlatformKey string           `json:"platformKey"`
	Status      ConnectionStatus `json:"status"`
	Created     time.Time        `json:"created"`
	// LastSync is when a dataset of this connection last reached Complete.
	LastSync time.Time `json:"lastSync,omitzero"`
	// AgentID is the agent the connection is bound to, once Linked.
	AgentID string `json:"agentId,omitempty"`
	// LinkCodeExpires is when the connection's outstanding link code
	// expires; zero when it has none. The code itself is never stored, only
	// its hash (LinkCode.Hash): it is shown once, where it is issued.
	LinkCodeExpires time.Time `json:"linkCodeExpires,omitzero"`
	// SyncWindow is the connection's own window; nil when it set none
	// (its company's or the client's applies).
	SyncWindow *SyncWindow `json:"syncWindow,omitempty"`
	// Links is how many times its link code was redeemed (rules.Redeem):
	// 1 at its first link.
	Links int `json:"links,omitempty"`
	// PausedSince is when the client paused the connection: nothing is
	// offered for it until it is resumed. Zero when it is not paused.
	PausedSince time.Time `json:"pausedSince,omitzero"`
	// Errors are the connection's errors, Active and recently Resolved, in
	// the order they were raised (package rules raises and resolves them).
	Errors []ConnectionError `json:"errors,omitempty"`
}

// LinkCode is a one-time code that links a connection to an agent. Only its
// hash is a key in the store.
type LinkCode struct {
	Hash         []byte    `json:"hash"`
	CompanyID    string    `json:"companyId"`
	ConnectionID string    `json:"connectionId"`
	Expires      time.Time `json:"expires"`
}

// Dataset is one sync of one data type on one connection: Codat's pull
// operation.
type Dataset struct {
	ID           string           `json:"id"`
	CompanyID    string           `json:"companyId"`
	ConnectionID string           `json:"connectionId"`
	DataType     dataset.DataType `json:"dataType"`
	Status       dataset.Status   `json:"status"`
	Requested    time.Time        `json:"requested"`
	// Completed is when it reached a terminal status.
	Completed time.Time `json:"completed,omitzero"`
	// ErrorCode is what kind of failure a FetchError was, when the agent
	// said (one of the ConnErrBook* kinds); empty otherwise.
	ErrorCode string `json:"errorCode,omitempty"`
	// Progress is 0-100: each status sets the floor of its stage (see
	// StageProgress); an agent's report raises it within Fetching and
	// Mapping; it never goes down except when a lease expires.
	Progress     int    `json:"progress"`
	SyncOrder    int    `json:"syncOrder"`
	Attempt      int    `json:"attempt"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	// The lease of the agent holding the dataset while Fetching or Mapping.
	LeaseID      string    `json:"leaseId,omitempty"`
	LeaseAgent   string    `json:"leaseAgent,omitempty"`
	LeaseExpires time.Time `json:"leaseExpires,omitzero"`
	// CommittedLease is the lease whose upload CommitUpload accepted: its
	// staged pages are the dataset's records.
	CommittedLease string       `json:"committedLease,omitempty"`
	Timeline       []Transition `json:"timeline"`
	// Warnings are what the agent's source noticed (the book was open in
	// GnuCash), from its reports: shown among the validation warnings and
	// in the statusDescription. At most MaxWarnings.
	Warnings []Warning `json:"warnings,omitempty"`
	// FirstLink are the ids of the datasets its connection's first link
	// queued, when it is one of them (rules.InitialReadEvents).
	FirstLink []string `json:"firstLink,omitempty"`
}

// Warning is one thing an agent's source noticed that does not fail the
// dataset.
type Warning struct {
	RuleID  string `json:"ruleId"`
	Message string `json:"message"`
}

// MaxWarnings bounds the warnings a dataset keeps from its reports.
const MaxWarnings = 8

// Transition is one entry of a dataset's timeline.
type Transition struct {
	At      time.Time      `json:"at"`
	From    dataset.Status `json:"from,omitempty"`
	To      dataset.Status `json:"to"`
	Actor   string         `json:"actor"`
	Attempt int            `json:"attempt"`
	Message string         `json:"message,omitempty"`
}

// ActorCoordinator is the timeline actor of the coordinator's transitions;
// an agent's are its agent id.
const ActorCoordinator = "coordinator"

// TypeStatus is what DataStatus knows of one data type.
type TypeStatus struct {
	Latest Dataset
	// LatestSuccessful is the newest Complete dataset; nil if none.
	LatestSuccessful *Dataset
}

// QueueRequest asks for a new dataset.
type QueueRequest struct {
	ID        string
	CompanyID string
	// ConnectionID is the connection to queue on; empty, the company's
	// only connection that is not Unlinked, picked in the queue's
	// transaction (ErrNoConnection, ErrAmbiguous).
	ConnectionID string
	DataType     dataset.DataType
	// SyncOrder is the dataset's place in its connection's dispatch
	// order, unless OrderBySettings.
	SyncOrder int
	// OrderBySettings takes the sync order from the company's sync
	// settings in force, read in the queue's transaction.
	OrderBySettings bool
	Now             time.Time
	// Message goes into the first timeline entry ("queued by API", ...).
	Message string
	// FirstLink are the ids of the datasets the connection's first link
	// queues, ID among them, when it is one of them.
	FirstLink []string
}

// Queued is what QueueDataset made: the dataset, the connection it is
// on and that connection's sync gate, all as of the queue's transaction.
type Queued struct {
	Dataset
	Connection Connection
	Gate       SyncGate
}

// ClaimRequest is an agent's claim of a dataset.
type ClaimRequest struct {
	DatasetID string
	AgentID   string
	LeaseID   string
	Now       time.Time
	TTL       time.Duration
}

// Report is a transition reported by an agent (LeaseID set) or made by the
// coordinator (LeaseID empty).
type Report struct {
	CompanyID string
	DatasetID string
	LeaseID   string
	// Actor is the agent id or ActorCoordinator.
	Actor   string
	To      dataset.Status
	Message string
	// Progress (1-99) raises the dataset's progress within its current
	// status when To equals that status; each transition otherwise sets the
	// progress of its stage (see Dataset.Progress).
	Progress int
	Now      time.Time
	// ErrorCode (an agent's, with FetchError) is the failure's kind, one
	// of the ConnErrBook* kinds; it raises that error on the connection.
	ErrorCode string
	// Warnings (an agent's, with a transition) are added to the dataset's;
	// a report that changes nothing adds none.
	Warnings []Warning
}

// MaxReports is how many reports one ReportAll applies: an offer pass
// marks a dozen datasets of a connection NotSupported at most, and the
// bound keeps the transaction far inside Badger's limit on its size.
const MaxReports = 100

// MaxFinishRecords and MaxFinishBytes bound the staged records (their
// count, and the bytes of their pages) that FinishUpload writes in one
// transaction: inside Badger's limit on a transaction's size with its
// memtables of 8 MiB (15% of one, about 1.2 MiB, holding the records once
// and the pages' deletions), and small enough that the transaction is
// short.
const (
	MaxFinishRecords = 5000
	MaxFinishBytes   = 512 << 10
)

// EndedPagesPerSweep bounds the ended datasets whose staged pages one
// FinishUpload or PublishCache deletes after its commit, before it
// answers; the rest wait for the next. Each ended dataset adds at most
// one to sweep and each sweep takes up to this many, so a backlog (a
// burst of big datasets ending) drains over the next calls rather than
// holding one upload's answer while it deletes them all.
const EndedPagesPerSweep = 64

// Finish is how the coordinator's validation of a Validating dataset
// ended, for FinishUpload.
type Finish struct {
	CompanyID string
	DatasetID string
	// Validation is what validation found, stored as SetValidation does.
	Validation ValidationResult
	// Failure is the message of a dataset that fails validation: it ends
	// ValidationError. Empty, it passes: Processing, then Complete.
	Failure string
	// Validated is when validation ended: the time of the Processing (or
	// ValidationError) entry.
	Validated time.Time
	// Now is the time of the Complete entry, at or after Validated.
	Now time.Time
	// LeaseID, when set, makes the call the agent's commit of its upload
	// too, in the same transaction: the dataset is Mapping under this
	// lease of AgentID's, and CommitUpload's move to Validating, at
	// Committed, comes first. Empty, the dataset is Validating already.
	LeaseID   string
	AgentID   string
	Committed time.Time
	// Mapped, with LeaseID, is when the agent's upload began: a dataset
	// still Fetching under the lease moves to Mapping at Mapped first, the
	// agent its mover, as its report would (the agent's last page carried
	// its Mapping). Zero, or a dataset already Mapping, adds no step.
	Mapped time.Time
	// Page, with LeaseID, is the upload's last page, not staged before: it
	// is staged in the same transaction, as PutPage would (idempotent: a
	// page of that number staged already is kept), before the staged
	// pages are read. Its AgentID, LeaseID and DatasetID are f's.
	Page *Page
}

// ValidationResult holds what validation found in a dataset.
type ValidationResult struct {
	Errors   []ValidationItem `json:"errors"`
	Warnings []ValidationItem `json:"warnings"`
}

// ValidationItem is one finding of a validation rule.
type ValidationItem struct {
	RuleID        string `json:"ruleId"`
	ItemID        string `json:"itemId"`
	Message       string `json:"message"`
	ValidatorName string `json:"validatorName"`
}

// Scope is what an API key may do.
type Scope string

// The API key scopes.
const (
	ScopeClient  Scope = "client"
	ScopeSupport Scope = "support"
)

// APIKey is a client's key; the secret itself is never stored.
type APIKey struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Scope   Scope     `json:"scope"`
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
}

// MsgAgentOffline is the error message of a dataset whose last lease expired.
const MsgAgentOffline = "connector went offline during the sync"
