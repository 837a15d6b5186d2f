package store

import (
	"context"
	"time"
)

// AgentStore is the part of the store the agents' side of the coordinator
// uses: agents and their credentials, link-code redemption, staged upload
// pages and the cache of synced records. Store embeds it.
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
	UpdateAgent(ctx context.Context, id string, fn func(*Agent) error) (Agent, error)
	// AgentConnections returns the connections bound to the agent (any
	// status), oldest first.
	AgentConnections(ctx context.Context, agentID string) ([]Connection, error)
	// RedeemLinkCode uses a link code, once: the code's connection is bound
	// to the agent and becomes Linked, its LinkCodeExpires is cleared and the
	// code is deleted, in one transaction. ErrNotFound for a code that does
	// not exist or was used; ErrCodeExpired (the code is deleted too) when
	// past its expiry. Of concurrent redemptions of one code exactly one
	// wins.
	RedeemLinkCode(ctx context.Context, hash []byte, agentID string, now time.Time) (Connection, error)
	// ReplaceLinkCode gives a connection whose status is one of from a new
	// code (by its hash), deleting its old one, and sets LinkCodeExpires; its
	// status stays as it is until the code is redeemed. The status is read
	// in the same transaction, so a concurrent unlink cannot slip between
	// the caller's check and the code. ErrNotFound if missing; ErrLinked if
	// the connection is Linked (never in from); ErrCodeRefused for another
	// status not in from; ErrExists if the new code's hash is taken.
	ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code LinkCode, from ...ConnectionStatus) (Connection, error)

	// AgentDataset returns a dataset by id alone for the agent its
	// connection is bound to; ErrNotFound for any other agent, as for a
	// dataset that does not exist.
	AgentDataset(ctx context.Context, agentID, datasetID string) (Dataset, error)
	// PutPage stages page n (from 1) of a Mapping dataset under its lease:
	// ErrNotFound if the dataset's connection is not bound to p.AgentID,
	// ErrStaleLease if the lease no longer holds it, ErrTransition if it is
	// not Mapping. Storing a page number again replaces nothing and succeeds:
	// uploads are idempotent. Pages from an earlier attempt are gone: Claim
	// deletes a dataset's staged pages.
	PutPage(ctx context.Context, p Page) error
	// Pages calls fn with each page staged under the dataset's lease (or,
	// once committed, under its CommittedLease) in page order; pages of an
	// earlier attempt are never seen. ErrNotFound if the dataset is missing.
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
	// (with those of datasets that ended since, failed ones for instance).
	// Records are the NDJSON lines of the pages, keyed by their id; of two
	// lines with one id the later is kept. ErrNotFound if the company or
	// dataset is missing, ErrTransition if the dataset is not Processing.
	// Publishing a dataset that is Complete and still the current snapshot
	// succeeds and changes nothing.
	PublishCache(ctx context.Context, companyID, datasetID string, now time.Time) (Dataset, error)
	// CachedRecords calls fn with each record of the current snapshot of
	// (company, data type) in id order, from one consistent read; no
	// snapshot means no calls. ErrNotFound if the company is missing.
	CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error
	// CachedRecord returns one cached record; ErrNotFound if missing.
	CachedRecord(ctx context.Context, companyID string, dt string, id string) ([]byte, error)
}

// Agent is an installed connector agent.
type Agent struct {
	ID             string    `json:"id"`
	CredentialHash []byte    `json:"credentialHash"`
	Created        time.Time `json:"created"`
	Hostname       string    `json:"hostname,omitempty"`
	OS             string    `json:"os,omitempty"`
	Version        string    `json:"version,omitempty"`
	// LastSeen is when the agent's connection last opened or closed.
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Revoked is when the client revoked the agent's credential; zero
	// while it is valid. A revoked agent is kept, so its events and its
	// record stay readable, and AgentByCredential still finds it: the
	// caller refuses it (and can say whose credential was refused).
	Revoked time.Time `json:"revoked,omitzero"`
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
