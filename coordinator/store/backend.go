package store

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// Backend is the contract every store backend keeps, the one
// storetest.Run tests; the coordinator's server holds one and hands each
// part the narrow interface that part declares.
// Every method is safe for concurrent use. A method that returns nil has
// made its change durable: a crash right after loses nothing. Times are
// stored in UTC. The errors named are those of package store, tested with
// errors.Is or errors.As. What a change means is computed by package
// rules; a backend loads the values, calls the rules, and persists the
// result atomically.
type Backend interface {
	CompanyStore
	ConnectionStore
	DatasetStore
	LeaseStore
	KeyStore
	AgentStore
	UploadStore
	SettingsStore
	SyncWindowStore
	ProfileStore
	WebhookStore
	AgentEventStore
	RoundTripStore
	ChannelStore
	LeaderStore
	SessionStore
	FailureStore
	DiagnosticsStore
	BundleStore

	UploadSlotStore
	RefusalStore
	RolloutStore

	// Feed is the backend's change feed: after each transaction that
	// creates a connection or changes its status or agent, creates a
	// dataset or changes its status, revokes an agent's credential, puts
	// webhook deliveries in the outbox, arms a scheduled sync, or claims
	// or releases an agent's control channel, or makes or answers a
	// diagnostics request, or requests a support bundle, or changes an
	// agent's raised log level, or asks an agent for an update, the
	// backend publishes one Change saying so; a transaction that
	// fails, or changes nothing of that, publishes nothing.
	Feed() *Feed

	// Close flushes and releases the  It is safe to call once.
	Close() error
}

// RolloutStore keeps the rollouts of agent releases, one per version.
type RolloutStore interface {
	// CreateRollout stores a new rollout, replacing a stored one of the
	// same version that is no longer Running or Paused; ErrExists while
	// any rollout (of any version) is Running or Paused: of concurrent
	// creations at most one succeeds. It refuses a malformed rollout
	// (rules.CheckRollout).
	CreateRollout(ctx context.Context, r Rollout) error
	// Rollout returns the rollout of a version; ErrNotFound if none.
	Rollout(ctx context.Context, version string) (Rollout, error)
	// Rollouts returns every rollout, oldest first.
	Rollouts(ctx context.Context) ([]Rollout, error)
	// UpdateRollout applies fn to the stored rollout of a version
	// atomically and returns the result; ErrNotFound if none. It
	// refuses a malformed result and a change of its version.
	UpdateRollout(ctx context.Context, version string, fn func(*Rollout) error) (Rollout, error)
}

// CompanyStore keeps companies, the businesses sharing their data.
type CompanyStore interface {
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
}

// ConnectionStore keeps the connections of companies, with their link codes.
type ConnectionStore interface {
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
}

// DatasetStore queues datasets and reads them.
type DatasetStore interface {
	// QueueDataset creates a dataset in Queued (or in AuthError at once when
	// the connection is Deauthorized) with the first timeline entry, and
	// returns it with its connection and that connection's sync gate, all
	// read in the one transaction that writes it (a queue call waits for
	// no other read). With no ConnectionID it picks the company's only
	// connection that is not Unlinked (ErrNoConnection, ErrAmbiguous);
	// with OrderBySettings the sync order is the type's in the company's
	// settings in force. It refuses with *InProgressError when the type
	// has a non-terminal dataset on the connection, ErrUnlinked on an
	// Unlinked connection, and ErrNotFound when the company or connection
	// is missing.
	QueueDataset(ctx context.Context, q QueueRequest) (Queued, error)
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
	// order: sync order, then requested time, and, when there is any, the
	// connection's sync gate read with them (an offer waits for one read,
	// not two); the gate is nil when nothing is queued or the connection
	// is gone.
	QueuedDatasets(ctx context.Context, connectionID string) ([]Dataset, *SyncGate, error)
	// QueuedConnections returns the ids of the connections that have at
	// least one Queued dataset, each once, in id order. Its cost grows
	// with the Queued datasets, not the history or the connections.
	QueuedConnections(ctx context.Context) ([]string, error)
}

// LeaseStore moves datasets through their lifecycle: claims under a
// lease, reports, expiry, and the validation results.
type LeaseStore interface {
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
	// ReportAll applies reports (at most MaxReports) in one transaction, in
	// order, each as Report would: its rules, timeline entry, events and
	// change, a later report seeing what the earlier ones wrote (the last
	// of a connection's first link to end emits read.completed.initial).
	// A report Report would refuse with ErrTransition, ErrStaleLease or
	// ErrNotFound (its dataset moved on, or is gone, since the caller read
	// it) is skipped and the others applied. Any other refusal, of a report
	// or of the store, applies none and is returned. It returns the
	// datasets of the reports applied, as they left them, in order.
	ReportAll(ctx context.Context, rs []Report) ([]Dataset, error)
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
}

// KeyStore keeps the coordinator's secrets and the clients' API keys.
type KeyStore interface {
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
}

// AgentStore keeps agents, their credentials and the redemption of link codes.
type AgentStore interface {
	// CreateAgent stores a new agent; ErrExists if the id or the credential
	// hash is taken.
	CreateAgent(ctx context.Context, a Agent) error
	// Agent returns one agent; ErrNotFound if missing.
	Agent(ctx context.Context, id string) (Agent, error)
	// AgentByCredential finds an agent by its credential's hash; ErrNotFound.
	AgentByCredential(ctx context.Context, hash []byte) (Agent, error)
	// Agents returns every agent, oldest first.
	Agents(ctx context.Context) ([]Agent, error)
	// UpdateAgent applies fn to the stored agent atomically; ErrNotFound.
	// When the raised log level (LogLevel, LogLevelUntil) changes, the
	// feed's Change carries it in LogLevels; when UpdateAsk is set or
	// changes, in Updates.
	UpdateAgent(ctx context.Context, id string, fn func(*Agent) error) (Agent, error)
	// AgentConnections returns the connections bound to the agent (any
	// status), oldest first.
	AgentConnections(ctx context.Context, agentID string) ([]Connection, error)
	// RedeemLinkCode uses a link code, once: the code's connection is bound
	// to the agent and becomes Linked, its LinkCodeExpires is cleared and the
	// code is deleted, in one transaction. ErrNotFound for a code that does
	// not exist or was used; ErrCodeExpired when past its expiry: the code
	// is deleted too and, in the same transaction, its connection (unless
	// Linked) gets the LinkCodeExpired error (rules.LinkFailed) and the
	// webhooks connection.failed and connection.error.raised. Of
	// concurrent redemptions of one code exactly one wins.
	RedeemLinkCode(ctx context.Context, hash []byte, agentID string, now time.Time) (Connection, error)
	// ReplaceLinkCode gives a connection whose status is one of from a new
	// code (by its hash), deleting its old one, and sets LinkCodeExpires; its
	// status stays as it is until the code is redeemed. The status is read
	// in the same transaction, so a concurrent unlink cannot slip between
	// the caller's check and the code. ErrNotFound if missing; ErrLinked if
	// the connection is Linked (never in from); ErrCodeRefused for another
	// status not in from; ErrExists if the new code's hash is taken.
	ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code LinkCode, from ...ConnectionStatus) (Connection, error)
	// CheckAgentOffline applies rules.AgentOffline at now, with after the
	// threshold, to the agent as stored, online when a replica holds its
	// channel, and to the connections bound to it, reading them all in one
	// transaction: it reports the agent offline (Agent.Offline set, the
	// AgentOffline error raised on its Linked connections, with their
	// webhook events) or ends that report. It reports whether anything
	// changed; nothing changes for a missing agent. AddAgentEvent of a
	// Connected event ends the report too, in its own transaction.
	CheckAgentOffline(ctx context.Context, agentID string, now time.Time, after time.Duration) (bool, error)
}

// UploadStore stages the pages agents upload and publishes them as the cached
// records.
type UploadStore interface {
	// AgentDataset returns a dataset by id alone for the agent its
	// connection is bound to; ErrNotFound for any other agent, as for a
	// dataset that does not exist.
	AgentDataset(ctx context.Context, agentID, datasetID string) (Dataset, error)
	// AgentDatasetByCredential is AgentByCredential and AgentDataset for
	// that agent from one read (an agent's upload request, authenticated
	// and its dataset found without a second read waiting on the writes in
	// flight). With no agent of that credential it returns the zero Agent
	// and ErrNotFound; otherwise the agent as stored, a revoked one too
	// (its Revoked set: the caller refuses it), and AgentDataset's dataset
	// and error.
	AgentDatasetByCredential(ctx context.Context, hash []byte, datasetID string) (Agent, Dataset, error)
	// PutPage stages page n (from 1) of a Mapping dataset under its lease:
	// ErrNotFound if the dataset's connection is not bound to p.AgentID,
	// ErrStaleLease if the lease no longer holds it, ErrTransition if it is
	// not Mapping. Storing a page number again replaces nothing and succeeds:
	// uploads are idempotent. Pages from an earlier attempt are gone: Claim
	// deletes a dataset's staged pages.
	PutPage(ctx context.Context, p Page) error
	// Pages calls fn with each page staged under the dataset's lease (or,
	// once committed, under its CommittedLease) in page order; pages of an
	// earlier attempt are never seen; a Complete dataset has none (its
	// records are the cache's). ErrNotFound if the dataset is missing.
	// The page's Data may be the store's own: valid only until fn returns,
	// and never to be changed.
	Pages(ctx context.Context, datasetID string, fn func(Page) error) error
	// CommitUpload ends a Mapping dataset's upload: ErrNotFound as PutPage;
	// fenced by the agent's lease (ErrStaleLease), it moves the dataset to
	// Validating as the coordinator, drops the lease and keeps it as
	// CommittedLease. ErrTransition if the lease holds a dataset still
	// Fetching. Committing a dataset already past Mapping under the same
	// lease succeeds and changes nothing.
	CommitUpload(ctx context.Context, agentID, datasetID, leaseID string, now time.Time) (Dataset, error)
	// Unprocessed returns the datasets in Validating or Processing, which the
	// coordinator itself must finish (after a restart, for one), in dataset
	// id order. Its cost does not grow with the history.
	Unprocessed(ctx context.Context) ([]Dataset, error)
	// PublishCache makes the staged pages of a Processing dataset the
	// company's cached records of its data type and moves the dataset to
	// Complete, atomically: a reader sees the old snapshot or the new one,
	// never a mix. The previous snapshot and the staged pages are deleted
	// (with those of datasets that ended since, failed ones for instance);
	// a store may keep the pages as the new snapshot's storage, out of
	// Pages' sight, until the next publish replaces it.
	// Records are the NDJSON lines of the pages, keyed by their id; of two
	// lines with one id the later is kept. ErrNotFound if the company or
	// dataset is missing, ErrTransition if the dataset is not Processing.
	// Publishing a dataset that is Complete and still the current snapshot
	// succeeds and changes nothing.
	PublishCache(ctx context.Context, companyID, datasetID string, now time.Time) (Dataset, error)
	// WriteSnapshot writes the records of a Validating or Processing
	// dataset's staged pages as its snapshot, out of every reader's sight,
	// calling check with each record (its NDJSON line) in page order
	// before it is written, and returns once the snapshot is durable: the
	// validation's pass over the records is the snapshot's too, and
	// PublishCache then swaps it in without writing it again. check's
	// error stops it and is returned, the snapshot left unfinished. A
	// snapshot written whole already is not written again, and check
	// still sees every record. The snapshot of a dataset that ends
	// otherwise (ValidationError) is an orphan, deleted by the next
	// publish of its type. ErrNotFound if the company or dataset is
	// missing, ErrTransition unless the dataset is Validating or
	// Processing.
	WriteSnapshot(ctx context.Context, companyID, datasetID string, check func(record []byte) error) error
	// FinishUpload ends a small Validating dataset in one transaction, as
	// SetValidation, Report and PublishCache called one after another
	// would, with nothing half applied: it stores f.Validation; then, when
	// f.Failure is empty, it moves the dataset to Processing at
	// f.Validated, makes the records of its staged pages the company's
	// cached records of its type (as PublishCache: of two lines with one
	// id the later is kept) and moves it to Complete at f.Now; otherwise
	// it moves it to ValidationError at f.Validated with f.Failure as the
	// message. Each transition has its own timeline entry, webhook events
	// and DatasetChange in the feed's one Change. The dataset's staged
	// pages and the snapshot it replaces are deleted. ErrTooLarge when the
	// staged pages hold more than MaxFinishRecords records or
	// MaxFinishBytes bytes; ErrNotFound if the company or dataset is
	// missing; ErrTransition unless the dataset is Validating (a second
	// call, for one). With f.LeaseID it is also the agent's commit, first
	// in the same transaction, as CommitUpload at f.Committed: the
	// dataset goes Mapping, Validating, then on as above, each
	// transition at its own time; the errors are CommitUpload's, and a
	// commit under a lease already committed (the dataset's
	// CommittedLease) changes nothing and returns the dataset as it is.
	// Each error leaves the store as it was.
	FinishUpload(ctx context.Context, f Finish) (Dataset, error)
	// CachedRecords calls fn with each record of the current snapshot of
	// (company, data type) in id order, from one consistent read; no
	// snapshot means no calls. ErrNotFound if the company is missing.
	CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error
	// CachedRecord returns one cached record; ErrNotFound if missing.
	CachedRecord(ctx context.Context, companyID string, dt string, id string) ([]byte, error)
	// CachedRecordExists reports whether the current snapshot of
	// (company, data type) holds a record with that id, without reading
	// the record: false, nil when it does not or there is no snapshot;
	// ErrNotFound if the company is missing.
	CachedRecordExists(ctx context.Context, companyID string, dt string, id string) (bool, error)
}

// SettingsStore keeps the sync settings, client-wide and per company, and the
// schedule they make: when each (connection, data type) is next due.
type SettingsStore interface {
	// ProfileSyncSettings returns the client-wide settings, one per data
	// type (the defaults for the types never set).
	ProfileSyncSettings(ctx context.Context) ([]SyncSetting, error)
	// SetProfileSyncSettings replaces the settings of the types given
	// (CheckSyncSettings), keeping the others, and moves the schedule of
	// every connection that follows them to the new hours.
	SetProfileSyncSettings(ctx context.Context, list []SyncSetting) error
	// CompanySyncSettings returns a company's own settings (those of the
	// client when it set none); ErrNotFound if the company is missing.
	CompanySyncSettings(ctx context.Context, companyID string) (CompanySyncSettings, error)
	// SetCompanySyncSettings replaces the settings of the types given for a
	// company, keeping the others, and moves the schedule of its
	// connections; ErrNotFound if the company is missing.
	SetCompanySyncSettings(ctx context.Context, s CompanySyncSettings) error
	// EffectiveSyncSettings returns the settings in force for a company:
	// its own when they override the defaults, the client's otherwise.
	EffectiveSyncSettings(ctx context.Context, companyID string) ([]SyncSetting, error)

	// DueSyncs returns at most limit schedule entries due at or before now,
	// earliest first. It reads only due entries: its cost does not grow
	// with the number of connections.
	DueSyncs(ctx context.Context, now time.Time, limit int) ([]ScheduledSync, error)
	// Reschedule moves a due entry to next (it stays at most one entry per
	// connection and type), or removes it when next is zero. An entry that
	// changed since it was read (a dataset was queued meanwhile) is left as
	// it is.
	Reschedule(ctx context.Context, s ScheduledSync, next time.Time) error
}

// SyncWindowStore keeps the client's default sync window and reads what
// gates the offers of a connection's queued datasets. A connection's own
// window and its pause are fields of the Connection (UpdateConnection), a
// company's window a field of the Company (UpdateCompany); the feed's
// Change carries each such change (Connections for a connection's,
// SyncWindows for a company's or the client's).
type SyncWindowStore interface {
	// ProfileSyncWindow returns the client's default window; nil when it
	// set none.
	ProfileSyncWindow(ctx context.Context) (*SyncWindow, error)
	// SetProfileSyncWindow replaces the client's default window; nil
	// removes it. The window must pass rules.CheckSyncWindow.
	SetProfileSyncWindow(ctx context.Context, w *SyncWindow) error
	// SyncGate returns a connection's pause and the window in force for
	// it (rules.EffectiveWindow over its own, its company's and the
	// client's), from one consistent read; ErrNotFound if missing.
	SyncGate(ctx context.Context, connectionID string) (SyncGate, error)
}

// WebhookStore keeps webhook consumers and the durable outbox of their
// deliveries. The backend itself adds the events of its own changes
// (rules.DatasetEvents, rules.ConnectionEvents, rules.PresenceEvents) in
// the transaction that makes the change, so a crash cannot lose one.
type WebhookStore interface {
	// CreateWebhook stores a consumer; ErrExists if the id is taken or the
	// client has MaxWebhooks already.
	CreateWebhook(ctx context.Context, w Webhook) error
	// Webhook returns one consumer; ErrNotFound if missing.
	Webhook(ctx context.Context, id string) (Webhook, error)
	// Webhooks returns every consumer, oldest first.
	Webhooks(ctx context.Context) ([]Webhook, error)
	// DeleteWebhook removes a consumer, its pending deliveries and its
	// delivery log; ErrNotFound if missing.
	DeleteWebhook(ctx context.Context, id string) error
	// DueDeliveries returns at most limit deliveries due at or before now,
	// earliest first; it reads only due ones.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// DeliveryDone ends a delivery the consumer accepted (or one dropped
	// for good): it leaves the outbox, a is logged, and the consumer is no
	// longer failing when a.Outcome is OutcomeDelivered. A delivery no
	// longer in the outbox is only logged.
	DeliveryDone(ctx context.Context, d Delivery, a DeliveryAttempt) error
	// DeliveryFailed logs a failed attempt and makes the delivery due again
	// at next. When the consumer has been failing since at least
	// disableAfter before a.At it is disabled instead, and the delivery
	// leaves the outbox; disabled reports that.
	DeliveryFailed(ctx context.Context, d Delivery, a DeliveryAttempt, next time.Time, disableAfter time.Duration) (disabled bool, err error)
	// PendingDeliveries is how many deliveries are in the outbox (one per
	// event and consumer), due or waiting for a retry. It reads the
	// outbox's keys only: its cost grows with the backlog, not the history.
	PendingDeliveries(ctx context.Context) (int, error)
	// DeliveryLog returns a consumer's delivery attempts, newest first, at
	// most limit; ErrNotFound if the consumer is missing.
	DeliveryLog(ctx context.Context, webhookID string, limit int) ([]DeliveryAttempt, error)
}

// AgentEventStore keeps what happened to each agent's connectivity, for support
// staff: durable, read newest first, pruned after a retention.
type AgentEventStore interface {
	// AddAgentEvent stores an event; ErrExists if its id is taken. The
	// agent need not exist (events outlive nothing, but are never refused
	// for that). For a Connected or Disconnected event it also puts, in
	// the same transaction, connection.connected or
	// connection.disconnected in the webhook outbox for each of
	// e.Connections still bound to the agent (others are skipped), with
	// the id PresenceEventID(e.ID, connection): a crash cannot record the
	// one without the other.
	AddAgentEvent(ctx context.Context, e AgentEvent) error
	// AgentEvents returns an agent's events, newest first (by At, then id);
	// none is an empty list, not an error.
	AgentEvents(ctx context.Context, agentID string) ([]AgentEvent, error)
	// PruneAgentEvents deletes every event of every agent that happened
	// before cutoff and returns how many it deleted. Idempotent.
	PruneAgentEvents(ctx context.Context, cutoff time.Time) (int, error)
}

// RoundTripStore keeps the agents' heartbeat round trips in two rings per
// agent (RoundTrip): bounded, so it needs no pruning.
type RoundTripStore interface {
	// PutRoundTrips stores each minute sample (Resolution and At are
	// ignored: the sample is put in the minute ring's slot of its At and
	// in the hour ring's), replacing what the slot held from an earlier
	// minute or hour; a second sample of the same hour keeps the larger
	// round trip, a second of the same minute the later one. The agent
	// need not exist. Idempotent.
	PutRoundTrips(ctx context.Context, samples []RoundTrip) error
	// RoundTrips returns the samples of the agent's ring of resolution res
	// taken at or after from and before to, oldest first; none is an
	// empty list.
	RoundTrips(ctx context.Context, agentID string, res time.Duration, from, to time.Time) ([]RoundTrip, error)
}

// ChannelStore records which replica holds each agent's control channel,
// numbered by an epoch that fences a stale holder: a newer claim, on any
// replica, wins.
type ChannelStore interface {
	// ClaimChannel records that replica now holds the agent's control
	// channel, whoever held it before, with an epoch one more than the
	// agent's last (1 for its first claim), and returns that epoch. The
	// increment is atomic: concurrent claims get distinct epochs, and the
	// claim that commits last has the highest and holds the channel. The
	// feed's Change carries it in Channels. ErrNotFound if the agent is
	// missing.
	ClaimChannel(ctx context.Context, agentID, replica string) (uint64, error)
	// ReleaseChannel ends the claim numbered epoch: when the agent's
	// channel is held at that epoch, its holder is cleared (the epoch
	// stays), the feed's Change carries it in Channels with an empty
	// Replica, and it returns true. When a newer claim holds the channel,
	// or it is already released, or the agent is missing, it changes
	// nothing and returns false (nil error): the stale holder learns it
	// lost the agent.
	ReleaseChannel(ctx context.Context, agentID string, epoch uint64) (bool, error)
	// Channel returns who holds the agent's channel; for an agent never
	// claimed (or missing), a Channel with only AgentID set, no error.
	Channel(ctx context.Context, agentID string) (Channel, error)
	// Channels returns the channels held now (Replica not empty), by
	// agent id.
	Channels(ctx context.Context) ([]Channel, error)
	// ChannelCount returns how many channels are held now: the length of
	// Channels, counted without reading them out.
	ChannelCount(ctx context.Context) (int, error)
}

// LeaderStore keeps named leases: the replica holding one does alone the
// work it names (lease expiry, the scheduler, webhook delivery, pruning).
type LeaderStore interface {
	// AcquireLease takes the named lease for holder until now+ttl when it
	// is free, expired (its until at or before now) or already holder's
	// (a renewal), and returns true and the new until. When another holder
	// has it until after now it changes nothing and returns false and that
	// holder's until. Of concurrent acquisitions of a free lease exactly
	// one wins. Times are the callers' clocks, which must agree to well
	// within ttl.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, time.Time, error)
	// ReleaseLease frees the named lease when holder has it, so that
	// another replica takes it at once; otherwise it changes nothing. Nil
	// either way.
	ReleaseLease(ctx context.Context, name, holder string) error
	// Lease returns the named lease's holder and until, expired or not;
	// an empty holder and the zero time when it was never taken or was
	// released.
	Lease(ctx context.Context, name string) (string, time.Time, error)
}

// SessionStore keeps the Portal's signed-in sessions, so that a session
// opened on one replica is one on every replica.
type SessionStore interface {
	// CreateSession stores a new session; ErrExists if its id is taken.
	CreateSession(ctx context.Context, s Session) error
	// Session returns a session by id; ErrNotFound if missing.
	Session(ctx context.Context, id []byte) (Session, error)
	// TouchSession sets a session's Seen to seen when that is later than
	// the stored one; ErrNotFound if missing.
	TouchSession(ctx context.Context, id []byte, seen time.Time) error
	// SetSessionNotes replaces a session's Notes; ErrNotFound if the
	// session is missing, an error when notes are over MaxSessionNotes
	// bytes.
	SetSessionNotes(ctx context.Context, id []byte, notes []byte) error
	// DeleteSession removes a session; nil when it is missing
	// (idempotent).
	DeleteSession(ctx context.Context, id []byte) error
	// PruneSessions deletes every session last seen before seenBefore or
	// created before createdBefore, and returns how many it deleted.
	PruneSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error)
}

// FailureStore counts failed authentications per key (a kind of failure
// and an address) in fixed windows, so that a limit holds across
// replicas. A key holds one window at a time: what one address can make
// the store hold is one small row per kind.
type FailureStore interface {
	// CountFailure adds one failure to key's window current at now and
	// returns the window's count, this one included, and when it ends.
	// When key has no window, or it ended at or before now, a new one
	// starts at now and ends at now+window. Concurrent counts are all
	// counted.
	CountFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
	// Failures returns the count of key's window current at now and when
	// it ends; 0 and the zero time when there is none.
	Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error)
	// PruneFailures deletes every window that ended at or before before,
	// and returns how many it deleted.
	PruneFailures(ctx context.Context, before time.Time) (int, error)
}

// DiagnosticsStore carries a request for an agent's diagnostics from the
// replica where support asked to the one holding the agent's channel, and
// its answer back: one request per agent, a newer one replacing the last.
type DiagnosticsStore interface {
	// RequestDiagnostics makes r the agent's request, waiting for its
	// answer, and returns it; but when the agent has a request still
	// waiting that was asked after pendingSince, it changes nothing and
	// returns that one, whose answer the caller shares. The feed's Change
	// carries a new request in Diagnostics. ErrNotFound if the agent is
	// missing.
	RequestDiagnostics(ctx context.Context, r DiagnosticsRequest, pendingSince time.Time) (DiagnosticsRequest, error)
	// AnswerDiagnostics stores the answer to the agent's request id, made
	// at answered, replacing any answer it had; the feed's Change carries
	// it in Diagnostics. ErrNotFound when the agent's request is not id
	// (another replaced it, or it was pruned); an error when answer is
	// over MaxDiagnosticsAnswer bytes.
	AnswerDiagnostics(ctx context.Context, agentID, id string, answered time.Time, answer []byte) error
	// Diagnostics returns the agent's request, answered or not;
	// ErrNotFound when it has none.
	Diagnostics(ctx context.Context, agentID string) (DiagnosticsRequest, error)
	// PendingDiagnostics returns the requests still waiting for an answer
	// that were asked after since, by agent id.
	PendingDiagnostics(ctx context.Context, since time.Time) ([]DiagnosticsRequest, error)
	// PruneDiagnostics deletes every request asked before before,
	// answered or not, and returns how many it deleted.
	PruneDiagnostics(ctx context.Context, before time.Time) (int, error)
}

// UploadSlotStore bounds the upload requests each agent has in flight
// across the replicas: a request holds one of its agent's slots while it
// runs. A slot is a lease: one its replica never returned (it was killed)
// frees itself when it ends. Unlike the rest of the store, slots need no
// durability: a crash of the store may free them all.
type UploadSlotStore interface {
	// TakeUploadSlot takes one of the agent's limit slots until now+ttl
	// and returns its token; "" (nil error) when all limit are held. A
	// slot is free when it was never taken, was returned, or its time
	// ended at or before now. Of any number of concurrent takes, at most
	// limit hold a slot at once.
	TakeUploadSlot(ctx context.Context, agentID string, limit int, now time.Time, ttl time.Duration) (string, error)
	// ReturnUploadSlot frees the agent's slot taken with token; nothing
	// (nil error) when it is free already or another take holds it since
	// it ended.
	ReturnUploadSlot(ctx context.Context, agentID, token string) error
}

// RefusalStore coalesces, across the replicas, the CredentialRefused
// events of an agent's revoked credential: the first refusal of a window
// is recorded as an event at once, the others are counted and recorded
// as one event when the window has ended. Like upload slots, the windows
// need no durability: a crash of the store may lose what they counted.
type RefusalStore interface {
	// CountRefusal counts a refusal of the agent's credential at now.
	// When the agent has no window, or its window ended at or before now
	// counting nothing after its first refusal, the refusal opens a new
	// window from now to now+every and CountRefusal returns true: its
	// event is to be recorded now. Otherwise the refusal is counted in the
	// window (an ended one not taken yet included), with remote and what
	// as the latest, and it returns false. Of concurrent first refusals,
	// one alone gets true.
	CountRefusal(ctx context.Context, agentID, remote, what string, now time.Time, every time.Duration) (bool, error)
	// TakeRefusals returns the windows that ended at or before now and
	// counted refusals after their first, each to one caller only, and
	// opens the next window of each agent at the end of the last, with
	// nothing counted; the windows that ended counting nothing after
	// their first are deleted.
	TakeRefusals(ctx context.Context, now time.Time, every time.Duration) ([]Refusals, error)
}
