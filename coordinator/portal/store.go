package portal

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Store is what the Portal needs of the store. Each method keeps the
// contract written on it, which every backend keeps and storetest checks.
type Store interface {
	// Signing in with an API key.

	// APIKeyByHash finds a key by the hash of its secret; store.ErrNotFound.
	APIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error)

	// Companies, their connections and link codes.

	// Companies returns every company, oldest first.
	Companies(ctx context.Context) ([]store.Company, error)
	// Company returns one company; store.ErrNotFound if missing.
	Company(ctx context.Context, id string) (store.Company, error)
	// Connections returns a company's connections, oldest first;
	// store.ErrNotFound if the company is missing.
	Connections(ctx context.Context, companyID string) ([]store.Connection, error)
	// ReplaceLinkCode gives a connection whose status is one of from a new
	// code (by its hash), deleting its old one, and sets LinkCodeExpires;
	// its status stays as it is until the code is redeemed. The status is
	// read in the same transaction, so a concurrent unlink cannot slip
	// between the caller's check and the code. store.ErrNotFound if missing;
	// store.ErrLinked if the connection is Linked (never in from);
	// store.ErrCodeRefused for another status not in from; store.ErrExists
	// if the new code's hash is taken.
	ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code store.LinkCode, from ...store.ConnectionStatus) (store.Connection, error)

	// UpdateCompany applies fn to the stored company atomically;
	// store.ErrNotFound if missing (the Portal sets a company's sync
	// window with it).
	UpdateCompany(ctx context.Context, id string, fn func(*store.Company) error) (store.Company, error)
	// ProfileSyncWindow returns the client's default sync window; nil
	// when it set none.
	ProfileSyncWindow(ctx context.Context) (*store.SyncWindow, error)
	// SetProfileSyncWindow replaces the client's default window; nil
	// removes it. The window must pass rules.CheckSyncWindow.
	SetProfileSyncWindow(ctx context.Context, w *store.SyncWindow) error
	// UpdateConnection applies fn to the stored connection atomically;
	// store.ErrNotFound if missing (the Portal pauses, resumes and sets
	// a connection's own sync window with it).
	UpdateConnection(ctx context.Context, companyID, id string, fn func(*store.Connection) error) (store.Connection, error)
	// SyncGate returns a connection's pause and the sync window in force
	// for it, from one consistent read; store.ErrNotFound if missing.
	SyncGate(ctx context.Context, connectionID string) (store.SyncGate, error)

	// Datasets and their validation.

	// Datasets returns a company's datasets, newest requested first;
	// store.ErrNotFound if the company is missing.
	Datasets(ctx context.Context, companyID string) ([]store.Dataset, error)
	// Dataset returns one dataset of a company; store.ErrNotFound if
	// missing.
	Dataset(ctx context.Context, companyID, id string) (store.Dataset, error)
	// DataStatus returns, per data type that has ever been queued for the
	// company, its newest and newest Complete datasets. Its cost does not
	// grow with the length of the history. store.ErrNotFound if the company
	// is missing.
	DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error)
	// CachedRecords calls fn with each record of the current snapshot of
	// (company, data type) in id order, from one consistent read; no
	// snapshot means no calls. store.ErrNotFound if the company is missing.
	// The aged reports and the financial statements are computed from them.
	CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error
	// Validation returns a dataset's validation results (empty lists when
	// none were stored); store.ErrNotFound if the dataset is missing.
	Validation(ctx context.Context, companyID, datasetID string) (store.ValidationResult, error)

	// An agent's events (its live state comes from Agents).

	// AgentEvents returns an agent's events, newest first (by At, then id);
	// none is an empty list, not an error.
	AgentEvents(ctx context.Context, agentID string) ([]store.AgentEvent, error)

	// Channel returns who holds the agent's channel; no error and no
	// replica for an agent never claimed.
	Channel(ctx context.Context, agentID string) (store.Channel, error)

	// Sessions, and the count of wrong keys per address, shared by the
	// replicas.

	SessionStore
	ratelimit.Counter

	// Rollout returns the rollout of a release's version; store.ErrNotFound
	// if none.
	Rollout(ctx context.Context, version string) (store.Rollout, error)
	// Rollouts returns every rollout.
	Rollouts(ctx context.Context) ([]store.Rollout, error)
}

// SessionStore keeps the signed-in sessions (store.SessionStore).
type SessionStore interface {
	// CreateSession stores a new session; store.ErrExists if its id is
	// taken.
	CreateSession(ctx context.Context, s store.Session) error
	// Session returns a session by id; store.ErrNotFound if missing.
	Session(ctx context.Context, id []byte) (store.Session, error)
	// TouchSession sets a session's Seen to seen when that is later than
	// the stored one; store.ErrNotFound if missing.
	TouchSession(ctx context.Context, id []byte, seen time.Time) error
	// SetSessionNotes replaces a session's Notes; store.ErrNotFound if the
	// session is missing, an error past store.MaxSessionNotes bytes.
	SetSessionNotes(ctx context.Context, id []byte, notes []byte) error
	// DeleteSession removes a session; nil when it is missing.
	DeleteSession(ctx context.Context, id []byte) error
	// PruneSessions deletes every session last seen before seenBefore or
	// created before createdBefore, and returns how many it deleted.
	PruneSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error)
}
