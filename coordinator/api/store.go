package api

import (
	"context"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Store is what the API needs of the store. Each method keeps the
// contract written on it, which every backend keeps and storetest checks.
type Store interface {
	KeyStore
	// The client's profile and its CORS origins.
	store.ProfileStore
	// APIKeys returns every key, oldest first (hashes included).
	APIKeys(ctx context.Context) ([]store.APIKey, error)
	// DeleteAPIKey removes a key; store.ErrNotFound if missing.
	DeleteAPIKey(ctx context.Context, id string) error

	// Companies and their connections.

	// CreateCompany stores a new company; store.ErrExists if the id is
	// taken.
	CreateCompany(ctx context.Context, c store.Company) error
	// Company returns one company; store.ErrNotFound if missing.
	Company(ctx context.Context, id string) (store.Company, error)
	// Companies returns every company, oldest first.
	Companies(ctx context.Context) ([]store.Company, error)
	// UpdateCompany applies fn to the stored company and stores the result
	// atomically; store.ErrNotFound if missing; an error from fn aborts the
	// update.
	UpdateCompany(ctx context.Context, id string, fn func(*store.Company) error) (store.Company, error)
	// DeleteCompany removes a company with its connections, datasets, link
	// codes and cached data; store.ErrNotFound if missing.
	DeleteCompany(ctx context.Context, id string) error
	// ProfileSyncWindow returns the client's default sync window; nil
	// when it set none.
	ProfileSyncWindow(ctx context.Context) (*store.SyncWindow, error)
	// SetProfileSyncWindow replaces the client's default window; nil
	// removes it. The window must pass rules.CheckSyncWindow.
	SetProfileSyncWindow(ctx context.Context, w *store.SyncWindow) error
	// SyncGate returns a connection's pause and the window in force for
	// it, from one consistent read; store.ErrNotFound if missing.
	SyncGate(ctx context.Context, connectionID string) (store.SyncGate, error)
	// CreateConnection stores a new connection of an existing company, and
	// with it the link code (by its hash) that links it, whose expiry
	// becomes the connection's LinkCodeExpires; store.ErrNotFound if the
	// company is missing, store.ErrExists if the connection id is taken.
	CreateConnection(ctx context.Context, c store.Connection, code store.LinkCode) error
	// Connection returns one connection of a company; store.ErrNotFound if
	// either is missing or the connection belongs to another company.
	Connection(ctx context.Context, companyID, id string) (store.Connection, error)
	// Connections returns a company's connections, oldest first;
	// store.ErrNotFound if the company is missing.
	Connections(ctx context.Context, companyID string) ([]store.Connection, error)
	// UpdateConnection applies fn to the stored connection atomically;
	// store.ErrNotFound if missing. When the status leaves Linked (or
	// PendingAuth) for Unlinked or Deauthorized, in the same transaction
	// every Queued dataset of the connection moves to AuthError, and every
	// lease on its in-flight datasets is revoked: it expires at once
	// (ExpireLeases then ends the dataset) and a report under it is
	// store.ErrStaleLease. A connection that becomes Unlinked or
	// Deauthorized loses its link code too, and so does an Unlinked one
	// unlinked again.
	UpdateConnection(ctx context.Context, companyID, id string, fn func(*store.Connection) error) (store.Connection, error)
	// DeleteConnection removes a connection, its link code and its datasets'
	// claims; datasets already synced stay readable. store.ErrNotFound if
	// missing.
	DeleteConnection(ctx context.Context, companyID, id string) error
	// ReplaceLinkCode gives a connection whose status is one of from a new
	// code (by its hash), deleting its old one, and sets LinkCodeExpires;
	// its status stays as it is until the code is redeemed. The status is
	// read in the same transaction, so a concurrent unlink cannot slip
	// between the caller's check and the code. store.ErrNotFound if missing;
	// store.ErrLinked if the connection is Linked (never in from);
	// store.ErrCodeRefused for another status not in from; store.ErrExists
	// if the new code's hash is taken.
	ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code store.LinkCode, from ...store.ConnectionStatus) (store.Connection, error)

	// Datasets, their validation and the synced records.

	// Dataset returns one dataset of a company; store.ErrNotFound if
	// missing.
	Dataset(ctx context.Context, companyID, id string) (store.Dataset, error)
	// Datasets returns a company's datasets, newest requested first;
	// store.ErrNotFound if the company is missing.
	Datasets(ctx context.Context, companyID string) ([]store.Dataset, error)
	// DataStatus returns, per data type that has ever been queued for the
	// company, its newest and newest Complete datasets. Its cost does not
	// grow with the length of the history. store.ErrNotFound if the company
	// is missing.
	DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error)
	// Validation returns a dataset's validation results (empty lists when
	// none were stored); store.ErrNotFound if the dataset is missing.
	Validation(ctx context.Context, companyID, datasetID string) (store.ValidationResult, error)
	// CachedRecords calls fn with each record of the current snapshot of
	// (company, data type) in id order, from one consistent read; no
	// snapshot means no calls. store.ErrNotFound if the company is missing.
	CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error
	// CachedRecord returns one cached record; store.ErrNotFound if missing.
	CachedRecord(ctx context.Context, companyID string, dt string, id string) ([]byte, error)

	// Sync settings.

	// ProfileSyncSettings returns the client-wide settings, one per data
	// type (the defaults for the types never set).
	ProfileSyncSettings(ctx context.Context) ([]store.SyncSetting, error)
	// SetProfileSyncSettings replaces the settings of the types given
	// (CheckSyncSettings), keeping the others, and moves the schedule of
	// every connection that follows them to the new hours.
	SetProfileSyncSettings(ctx context.Context, list []store.SyncSetting) error
	// CompanySyncSettings returns a company's own settings (those of the
	// client when it set none); store.ErrNotFound if the company is missing.
	CompanySyncSettings(ctx context.Context, companyID string) (store.CompanySyncSettings, error)
	// SetCompanySyncSettings replaces the settings of the types given for a
	// company, keeping the others, and moves the schedule of its
	// connections; store.ErrNotFound if the company is missing.
	SetCompanySyncSettings(ctx context.Context, s store.CompanySyncSettings) error

	// Webhook consumers.

	// CreateWebhook stores a consumer; store.ErrExists if the id is taken or
	// the client has MaxWebhooks already.
	CreateWebhook(ctx context.Context, w store.Webhook) error
	// Webhook returns one consumer; store.ErrNotFound if missing.
	Webhook(ctx context.Context, id string) (store.Webhook, error)
	// Webhooks returns every consumer, oldest first.
	Webhooks(ctx context.Context) ([]store.Webhook, error)
	// DeleteWebhook removes a consumer, its pending deliveries and its
	// delivery log; store.ErrNotFound if missing.
	DeleteWebhook(ctx context.Context, id string) error
	// DeliveryLog returns a consumer's delivery attempts, newest first, at
	// most limit; store.ErrNotFound if the consumer is missing.
	DeliveryLog(ctx context.Context, webhookID string, limit int) ([]store.DeliveryAttempt, error)

	// Agents, for support staff (their live state comes from Agents).

	// Agent returns one agent; store.ErrNotFound if missing.
	Agent(ctx context.Context, id string) (store.Agent, error)
	// Agents returns every agent, oldest first.
	Agents(ctx context.Context) ([]store.Agent, error)
	// Channels returns the agents' channels held now.
	Channels(ctx context.Context) ([]store.Channel, error)
	// The rollouts of the agent's releases.
	store.RolloutStore
	// AgentEvents returns an agent's events, newest first (by At, then id);
	// none is an empty list, not an error.
	AgentEvents(ctx context.Context, agentID string) ([]store.AgentEvent, error)
	// Bundles returns an agent's support bundles, newest first, without
	// their archives.
	Bundles(ctx context.Context, agentID string) ([]store.SupportBundle, error)
	// BundleArchive returns one support bundle of the agent and its
	// archive; store.ErrNotFound when there is none or it has not arrived.
	BundleArchive(ctx context.Context, agentID, id string) (store.SupportBundle, []byte, error)
}

// KeyStore is what API-key authentication and EnsureKey need of the store.
type KeyStore interface {
	// APIKeyByHash finds a key by the hash of its secret; store.ErrNotFound.
	APIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error)
	// CreateAPIKey stores a key by its hash; store.ErrExists if the id is
	// taken.
	CreateAPIKey(ctx context.Context, k store.APIKey) error
}
