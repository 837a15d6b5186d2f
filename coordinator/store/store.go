// Package store keeps the coordinator's state: companies, connections,
// datasets with their timelines, API keys and link codes. Store is the
// interface the rest of the coordinator uses; Badger is the default
// implementation, and every implementation passes storetest.Run.
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
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// Errors a Store returns; callers test them with errors.Is or errors.As.
var (
	// ErrNotFound: the company, connection, dataset, key or code does not
	// exist (or is not visible to the caller, such as another agent's dataset).
	ErrNotFound = errors.New("not found")
	// ErrExists: an object with that id already exists.
	ErrExists = errors.New("already exists")
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

// Store is the coordinator's state. Every method is safe for concurrent use.
// A method that returns nil has made its change durable: a crash right after
// loses nothing. Times are stored in UTC.
type Store interface {
	AgentStore
	SettingsStore
	WebhookStore
	AgentEventStore

	// CreateCompany stores a new company; ErrExists if the id is taken.
	CreateCompany(ctx context.Context, c Company) error
	// Company returns one company; ErrNotFound if missing.
	Company(ctx context.Context, id string) (Company, error)
	// Companies returns every company, oldest first.
	Companies(ctx context.Context) ([]Company, error)
	// UpdateCompany applies fn to the stored company and stores the result
	// atomically; ErrNotFound if missing; an error from fn aborts the update.
	UpdateCompany(ctx context.Context, id string, fn func(*Company) error) (Company, error)
	// DeleteCompany removes a company with its connections, datasets, link
	// codes and cached data; ErrNotFound if missing.
	DeleteCompany(ctx context.Context, id string) error

	// CreateConnection stores a new connection of an existing company, and
	// with it the link code (by its hash) that links it, whose expiry
	// becomes the connection's LinkCodeExpires; ErrNotFound if the company
	// is missing, ErrExists if the connection id is taken.
	CreateConnection(ctx context.Context, c Connection, code LinkCode) error
	// Connection returns one connection of a company; ErrNotFound if either
	// is missing or the connection belongs to another company.
	Connection(ctx context.Context, companyID, id string) (Connection, error)
	// Connections returns a company's connections, oldest first; ErrNotFound
	// if the company is missing.
	Connections(ctx context.Context, companyID string) ([]Connection, error)
	// UpdateConnection applies fn to the stored connection atomically;
	// ErrNotFound if missing. When the status leaves Linked (or PendingAuth)
	// for Unlinked or Deauthorized, in the same transaction every Queued
	// dataset of the connection moves to AuthError, and every lease on its
	// in-flight datasets is revoked: it expires at once (ExpireLeases then
	// ends the dataset) and a report under it is ErrStaleLease. A connection
	// that becomes Unlinked or Deauthorized loses its link code too, and so
	// does an Unlinked one unlinked again.
	UpdateConnection(ctx context.Context, companyID, id string, fn func(*Connection) error) (Connection, error)
	// DeleteConnection removes a connection, its link code and its datasets'
	// claims; datasets already synced stay readable. ErrNotFound if missing.
	DeleteConnection(ctx context.Context, companyID, id string) error

	// QueueDataset creates a dataset in Queued (or in AuthError at once when
	// the connection is Deauthorized) with the first timeline entry. It
	// refuses with *InProgressError when the type has a non-terminal dataset
	// on the connection, ErrUnlinked on an Unlinked connection, and
	// ErrNotFound when the company or connection is missing.
	QueueDataset(ctx context.Context, q QueueRequest) (Dataset, error)
	// Dataset returns one dataset of a company; ErrNotFound if missing.
	Dataset(ctx context.Context, companyID, id string) (Dataset, error)
	// Datasets returns a company's datasets, newest requested first;
	// ErrNotFound if the company is missing.
	Datasets(ctx context.Context, companyID string) ([]Dataset, error)
	// DataStatus returns, per data type that has ever been queued for the
	// company, its newest and newest Complete datasets. Its cost does not
	// grow with the length of the history. ErrNotFound if the company is
	// missing.
	DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]TypeStatus, error)
	// DatasetCounts returns how many datasets the store holds in each
	// status, every status present (zero included), history included. The
	// counts change in the transaction of each dataset write and deletion,
	// so they are exact; reading costs the transitions since the last read,
	// not the history.
	DatasetCounts(ctx context.Context) (map[dataset.Status]int, error)
	// QueuedDatasets returns the Queued datasets of a connection in dispatch
	// order: sync order, then requested time.
	QueuedDatasets(ctx context.Context, connectionID string) ([]Dataset, error)

	// Claim moves a Queued dataset to Fetching for an agent and gives it a
	// new lease expiring at c.Now+c.TTL. Exactly one of any number of
	// concurrent claims wins; the others get ErrNotQueued. A dataset whose
	// connection is not bound to the agent is ErrNotFound. A dataset whose
	// connection is Deauthorized moves to AuthError and the claim gets
	// ErrNotQueued.
	Claim(ctx context.Context, c ClaimRequest) (Dataset, error)
	// Report applies a transition. With a lease id it is the agent's report,
	// fenced by that lease (ErrStaleLease when it no longer holds the
	// dataset); without one it is the coordinator's. An agent's report on a
	// dataset whose connection is not bound to it is ErrNotFound, whatever
	// the dataset's state, as for a dataset that does not exist. A
	// transition the table
	// refuses to that mover is ErrTransition. Reporting the status the
	// dataset already has, under the same lease, changes nothing and
	// succeeds: reports are idempotent.
	Report(ctx context.Context, r Report) (Dataset, error)
	// RenewLeases extends every lease the agent holds to expire at until,
	// and returns the datasets it holds.
	RenewLeases(ctx context.Context, agentID string, until time.Time) ([]Dataset, error)
	// RevokeLease takes away the agent's lease on a dataset, as if it had
	// expired: the next ExpireLeases moves the dataset on, and a report
	// under the lease is ErrStaleLease. A dataset the agent holds no lease
	// on is left as it is (nil); a missing one is ErrNotFound.
	RevokeLease(ctx context.Context, agentID, companyID, datasetID string) error
	// ExpireLeases returns every Fetching or Mapping dataset whose lease
	// expired at or before now to Queued with its attempt count raised, or to
	// FetchError when that was attempt MaxAttempts. A dataset whose
	// connection is no longer Linked goes on from Queued to AuthError. It
	// returns the datasets it moved, in their final state.
	ExpireLeases(ctx context.Context, now time.Time) ([]Dataset, error)
	// SetValidation stores a dataset's validation results, replacing any.
	SetValidation(ctx context.Context, companyID, datasetID string, v ValidationResult) error
	// Validation returns a dataset's validation results (empty lists when
	// none were stored); ErrNotFound if the dataset is missing.
	Validation(ctx context.Context, companyID, datasetID string) (ValidationResult, error)

	// Secret returns the named secret of this coordinator: 32 random bytes
	// made on the first call and the same on every later one, restarts
	// included; concurrent first calls agree. It keys the tokens of link
	// URLs.
	Secret(ctx context.Context, name string) ([]byte, error)

	// CreateAPIKey stores a key by its hash; ErrExists if the id is taken.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash finds a key by the hash of its secret; ErrNotFound.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// APIKeys returns every key, oldest first (hashes included).
	APIKeys(ctx context.Context) ([]APIKey, error)
	// DeleteAPIKey removes a key; ErrNotFound if missing.
	DeleteAPIKey(ctx context.Context, id string) error

	// Close flushes and releases the store. It is safe to call once.
	Close() error
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
	ID           string
	CompanyID    string
	ConnectionID string
	DataType     dataset.DataType
	SyncOrder    int
	Now          time.Time
	// Message goes into the first timeline entry ("queued by API", ...).
	Message string
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
	// Warnings (an agent's, with a transition) are added to the dataset's;
	// a report that changes nothing adds none.
	Warnings []Warning
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
