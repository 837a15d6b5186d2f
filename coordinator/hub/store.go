package hub

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// Store is what the hub needs of the store. Each method keeps the
// contract written on it, which every backend keeps and storetest checks.
type Store interface {
	// Agents, their credentials and their events.

	// CreateAgent stores a new agent; store.ErrExists if the id or the
	// credential hash is taken.
	CreateAgent(ctx context.Context, a store.Agent) error
	// Agent returns one agent; store.ErrNotFound if missing.
	Agent(ctx context.Context, id string) (store.Agent, error)
	// AgentByCredential finds an agent by its credential's hash;
	// store.ErrNotFound.
	AgentByCredential(ctx context.Context, hash []byte) (store.Agent, error)
	// AgentDatasetByCredential is AgentByCredential and AgentDataset for
	// that agent in one read: the zero Agent and store.ErrNotFound for an
	// unknown credential, otherwise the agent (revoked too) and the
	// dataset's lookup.
	AgentDatasetByCredential(ctx context.Context, hash []byte, datasetID string) (store.Agent, store.Dataset, error)
	// Agents returns every agent, oldest first.
	Agents(ctx context.Context) ([]store.Agent, error)
	// UpdateAgent applies fn to the stored agent atomically (a change
	// of the raised log level is on the feed, in LogLevels);
	// store.ErrNotFound.
	UpdateAgent(ctx context.Context, id string, fn func(*store.Agent) error) (store.Agent, error)
	// AddAgentEvent stores an event; store.ErrExists if its id is taken. The
	// agent need not exist (events outlive nothing, but are never refused
	// for that). For a Connected or Disconnected event it also puts, in the
	// same transaction, connection.connected or connection.disconnected in
	// the webhook outbox for each of e.Connections still bound to the agent
	// (others are skipped), with the id PresenceEventID(e.ID, connection): a
	// crash cannot record the one without the other.
	AddAgentEvent(ctx context.Context, e store.AgentEvent) error
	// PutRoundTrips stores agents' round-trip samples in their rings
	// (store.RoundTrip); idempotent.
	PutRoundTrips(ctx context.Context, samples []store.RoundTrip) error
	// CheckAgentOffline reports the agent offline, or ends that report,
	// as rules.AgentOffline says at now with the threshold after, reading
	// the agent, its channel and its connections in one transaction; it
	// reports whether anything changed.
	CheckAgentOffline(ctx context.Context, agentID string, now time.Time, after time.Duration) (bool, error)

	// CountFailure adds one to key's window current at now (a new one of
	// length window when it has none, or it ended) and returns its count
	// and end: the link attempts per address, counted across replicas.
	CountFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)

	// Support bundles (bundles.go).

	// RequestBundle stores a bundle waiting for the agent's archive; the
	// feed carries it in Bundles. store.ErrNotFound if the agent is
	// missing.
	RequestBundle(ctx context.Context, b store.SupportBundle) error
	// PutBundle stores the archive of the agent's bundle id, once:
	// store.ErrNotFound when the agent has no such bundle, store.ErrExists
	// when its archive arrived already.
	PutBundle(ctx context.Context, agentID, id string, uploaded time.Time, archive []byte) error
	// Bundles returns the agent's bundles, newest first, without archives.
	Bundles(ctx context.Context, agentID string) ([]store.SupportBundle, error)

	// Which replica holds each agent's channel (channels.go).

	// ClaimChannel records that replica now holds the agent's control
	// channel, whoever held it before, with an epoch one more than the
	// agent's last (1 for its first claim), and returns that epoch;
	// concurrent claims get distinct epochs. store.ErrNotFound if the
	// agent is missing.
	ClaimChannel(ctx context.Context, agentID, replica string) (uint64, error)
	// ReleaseChannel ends the claim numbered epoch and returns true when
	// it still held the channel; false (nil error) when a newer claim
	// holds it or it is released already.
	ReleaseChannel(ctx context.Context, agentID string, epoch uint64) (bool, error)
	// Channel returns who holds the agent's channel; no error and no
	// replica for an agent never claimed.
	Channel(ctx context.Context, agentID string) (store.Channel, error)
	// Channels returns the channels held now, by agent id.
	Channels(ctx context.Context) ([]store.Channel, error)
	// ChannelCount returns how many channels are held now, on any
	// replica.
	ChannelCount(ctx context.Context) (int, error)

	// What an agent holds for the moment, across the replicas
	// (upload.go, refusals.go).

	// TakeUploadSlot takes one of the agent's limit upload slots until
	// now+ttl and returns its token; "" when all are held.
	TakeUploadSlot(ctx context.Context, agentID string, limit int, now time.Time, ttl time.Duration) (string, error)
	// ReturnUploadSlot frees the slot taken with token.
	ReturnUploadSlot(ctx context.Context, agentID, token string) error
	// CountRefusal counts a refusal of the agent's revoked credential:
	// true when it opens a window of length every, and its event is to
	// be recorded now.
	CountRefusal(ctx context.Context, agentID, remote, what string, now time.Time, every time.Duration) (bool, error)
	// TakeRefusals returns the windows ended by now that counted
	// refusals after their first, each to one caller only.
	TakeRefusals(ctx context.Context, now time.Time, every time.Duration) ([]store.Refusals, error)

	// Diagnostics asked through another replica (diagnostics.go).

	// RequestDiagnostics makes r the agent's request and returns it, or,
	// when the agent has one still waiting asked after pendingSince,
	// returns that one unchanged; the feed carries a new request.
	// store.ErrNotFound if the agent is missing.
	RequestDiagnostics(ctx context.Context, r store.DiagnosticsRequest, pendingSince time.Time) (store.DiagnosticsRequest, error)
	// AnswerDiagnostics stores the answer to the agent's request id; the
	// feed carries it. store.ErrNotFound when the agent's request is not
	// id; an error past store.MaxDiagnosticsAnswer bytes.
	AnswerDiagnostics(ctx context.Context, agentID, id string, answered time.Time, answer []byte) error
	// Diagnostics returns the agent's request, answered or not;
	// store.ErrNotFound when it has none.
	Diagnostics(ctx context.Context, agentID string) (store.DiagnosticsRequest, error)
	// PendingDiagnostics returns the requests still waiting for an answer
	// that were asked after since.
	PendingDiagnostics(ctx context.Context, since time.Time) ([]store.DiagnosticsRequest, error)

	// The connections an agent serves: linking and revoking.

	// RedeemLinkCode uses a link code, once: the code's connection is bound
	// to the agent and becomes Linked, its LinkCodeExpires is cleared and
	// the code is deleted, in one transaction. store.ErrNotFound for a code
	// that does not exist or was used; store.ErrCodeExpired when past its
	// expiry (the code is deleted too, and its connection gets the
	// LinkCodeExpired error and connection.failed, in the same
	// transaction). Of concurrent redemptions of one code exactly one wins.
	RedeemLinkCode(ctx context.Context, hash []byte, agentID string, now time.Time) (store.Connection, error)
	// AgentConnections returns the connections bound to the agent (any
	// status), oldest first.
	AgentConnections(ctx context.Context, agentID string) ([]store.Connection, error)
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

	// Datasets on the control channel: offers, claims, reports, leases.

	// QueuedDatasets returns the Queued datasets of a connection in dispatch
	// order: sync order, then requested time, and, read with them, the
	// connection's pause and sync window in force; the gate is nil when
	// nothing is queued or the connection is gone. The hub reads no gate
	// of its own: an offer reads it here, a claim in its transaction.
	QueuedDatasets(ctx context.Context, connectionID string) ([]store.Dataset, *store.SyncGate, error)
	// QueuedConnections returns the ids of the connections that have at
	// least one Queued dataset, each once, in id order. Its cost grows
	// with the Queued datasets, not the history or the connections.
	QueuedConnections(ctx context.Context) ([]string, error)
	// Claim moves a Queued dataset to Fetching for an agent and gives it a
	// new lease expiring at c.Now+c.TTL. Exactly one of any number of
	// concurrent claims wins; the others get store.ErrNotQueued. A dataset
	// whose connection is not bound to the agent is store.ErrNotFound. A
	// dataset whose connection is Deauthorized moves to AuthError and the
	// claim gets store.ErrNotQueued.
	Claim(ctx context.Context, c store.ClaimRequest) (store.Dataset, error)
	// Report applies a transition. With a lease id it is the agent's report,
	// fenced by that lease (store.ErrStaleLease when it no longer holds the
	// dataset); without one it is the coordinator's. An agent's report on a
	// dataset whose connection is not bound to it is store.ErrNotFound,
	// whatever the dataset's state, as for a dataset that does not exist. A
	// transition the table refuses to that mover is store.ErrTransition.
	// Reporting the status the dataset already has, under the same lease,
	// changes nothing and succeeds: reports are idempotent.
	Report(ctx context.Context, r store.Report) (store.Dataset, error)
	// ReportAll applies reports (at most store.MaxReports) in one
	// transaction, each as Report would; one refused with
	// store.ErrTransition, store.ErrStaleLease or store.ErrNotFound is
	// skipped. It returns the datasets of the reports applied.
	ReportAll(ctx context.Context, rs []store.Report) ([]store.Dataset, error)
	// RenewLeases extends every lease the agent holds to expire at until,
	// and returns the datasets it holds.
	RenewLeases(ctx context.Context, agentID string, until time.Time) ([]store.Dataset, error)
	// RevokeLease takes away the agent's lease on a dataset, as if it had
	// expired: the next ExpireLeases moves the dataset on, and a report
	// under the lease is store.ErrStaleLease. A dataset the agent holds no
	// lease on is left as it is (nil); a missing one is store.ErrNotFound.
	RevokeLease(ctx context.Context, agentID, companyID, datasetID string) error
	// ExpireLeases returns every Fetching or Mapping dataset whose lease
	// expired at or before now to Queued with its attempt count raised, or
	// to FetchError when that was attempt MaxAttempts. A dataset whose
	// connection is no longer Linked goes on from Queued to AuthError. It
	// returns the datasets it moved, in their final state.
	ExpireLeases(ctx context.Context, now time.Time) ([]store.Dataset, error)

	// Uploads.

	// AgentDataset returns a dataset by id alone for the agent its
	// connection is bound to; store.ErrNotFound for any other agent, as for
	// a dataset that does not exist.
	AgentDataset(ctx context.Context, agentID, datasetID string) (store.Dataset, error)
	// PutPage stages page n (from 1) of a Mapping dataset under its lease:
	// store.ErrNotFound if the dataset's connection is not bound to
	// p.AgentID, store.ErrStaleLease if the lease no longer holds it,
	// store.ErrTransition if it is not Mapping. Storing a page number again
	// replaces nothing and succeeds: uploads are idempotent. Pages from an
	// earlier attempt are gone: Claim deletes a dataset's staged pages.
	PutPage(ctx context.Context, p store.Page) error
	// Pages calls fn with each page staged under the dataset's lease (or,
	// once committed, under its CommittedLease) in page order; pages of an
	// earlier attempt are never seen. store.ErrNotFound if the dataset is
	// missing. The page's Data may be the store's own: valid only until fn
	// returns, and never to be changed.
	Pages(ctx context.Context, datasetID string, fn func(store.Page) error) error
	// CommitUpload ends a Mapping dataset's upload: store.ErrNotFound as
	// PutPage; fenced by the agent's lease (store.ErrStaleLease), it moves
	// the dataset to Validating as the coordinator, drops the lease and
	// keeps it as CommittedLease. store.ErrTransition if the lease holds a
	// dataset still Fetching. Committing a dataset already past Mapping
	// under the same lease succeeds and changes nothing.
	CommitUpload(ctx context.Context, agentID, datasetID, leaseID string, now time.Time) (store.Dataset, error)
}
