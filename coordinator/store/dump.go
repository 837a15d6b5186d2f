package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// A dump is everything a store holds, as a stream of plain values (Items)
// that any backend can write back: it is how `ferry-coordinator migrate`
// moves a coordinator from one backend to another (Copy). A backend that
// can be the source of a move is an Exporter, one that can be its target
// an Importer.
//
// What a dump leaves out is what a backend derives or rebuilds: its
// indexes, the dataset counts, the change feed, and the staged upload
// pages of datasets still in the agents' hands (their leases expire on the
// new store and the datasets are queued again, as after any restart).
// The pages of a dataset the coordinator has still to finish (Validating
// or Processing) are in it, so that the dataset can be finished there.

// Kind names a kind of dump item, as the migrate command's table shows it.
type Kind string

// The kinds of dump items, each after the kinds its items refer to.
const (
	KindSecret          Kind = "secrets"
	KindAPIKey          Kind = "API keys"
	KindAgent           Kind = "agents"
	KindProfileSettings Kind = "profile sync settings"
	KindProfileWindow   Kind = "profile sync window"
	KindProfile         Kind = "profile"
	KindWebhook         Kind = "webhooks"
	KindCompany         Kind = "companies"
	KindCompanySettings Kind = "company sync settings"
	KindConnection      Kind = "connections"
	KindLinkCode        Kind = "link codes"
	KindScheduledSync   Kind = "scheduled syncs"
	KindDataset         Kind = "datasets"
	KindValidation      Kind = "validation results"
	KindCachedRecord    Kind = "cached records"
	KindPage            Kind = "upload pages"
	KindDelivery        Kind = "webhook deliveries"
	KindDeliveryAttempt Kind = "delivery attempts"
	KindAgentEvent      Kind = "agent events"
)

// Kinds lists every kind, each after the kinds its items refer to.
var Kinds = []Kind{
	KindSecret, KindAPIKey, KindAgent, KindProfileSettings, KindProfileWindow, KindProfile, KindWebhook,
	KindCompany, KindCompanySettings, KindConnection, KindLinkCode, KindScheduledSync,
	KindDataset, KindValidation, KindCachedRecord, KindPage,
	KindDelivery, KindDeliveryAttempt, KindAgentEvent,
}

// Item is one value of a dump: a Secret, APIKey, Agent, ProfileSettings,
// ProfileWindow, Profile, Webhook, Company, CompanySyncSettings (as the company set them),
// Connection, LinkCode, ScheduledSync, Dataset (with its lease and
// timeline), Validation, CachedRecord, Page, Delivery, DeliveryAttempt or
// AgentEvent.
type Item interface {
	Kind() Kind
}

// Exporter is a backend that can be the source of a move.
type Exporter interface {
	// Export calls fn with every item the store holds, from one
	// consistent read, each after the items it refers to: secrets, API
	// keys, agents, profile settings and webhooks first; a company before
	// its settings, connections and datasets; a connection before its link
	// codes and schedule; a dataset before its validation, cached records
	// and pages; webhook deliveries, delivery attempts and agent events
	// last. Only the current snapshot of each company's cached records is
	// in it, and only the pages of datasets in Validating or Processing,
	// under their CommittedLease. An error from fn stops it and is
	// returned. The store's writers should be stopped: a coordinator
	// running on it changes what a later read sees.
	Export(ctx context.Context, fn func(Item) error) error
}

// Importer is a backend that can be the target of a move.
type Importer interface {
	// Import writes the items that items yields, each after the items it
	// refers to (as Export yields them), into an empty store as they are,
	// leases and times included; it runs no rule, emits no webhook event
	// and publishes nothing on the feed. An item the store cannot hold
	// (unknown, or naming a parent not yielded before it) fails the
	// import. A backend that can makes the import one transaction; one
	// that cannot leaves what it wrote when it fails, and the store must
	// be emptied (or made anew) before another try.
	Import(ctx context.Context, items func(yield func(Item) error) error) error
}

// Secret is one of the coordinator's secrets (KeyStore.Secret).
type Secret struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// ProfileSettings is the client-wide sync settings as the client set
// them; a dump holds it only when they were set.
type ProfileSettings struct {
	Settings []SyncSetting `json:"settings"`
}

// ProfileWindow is the client's default sync window; a dump holds it only
// when it was set.
type ProfileWindow struct {
	Window SyncWindow `json:"window"`
}

// Validation is the validation result of one dataset.
type Validation struct {
	CompanyID string           `json:"companyId"`
	DatasetID string           `json:"datasetId"`
	Result    ValidationResult `json:"result"`
}

// CachedRecord is one record of the current snapshot of a company's data
// type: DatasetID is the dataset whose publication made it.
type CachedRecord struct {
	CompanyID string           `json:"companyId"`
	DataType  dataset.DataType `json:"dataType"`
	DatasetID string           `json:"datasetId"`
	ID        string           `json:"id"`
	Data      []byte           `json:"data"`
}

// Kind is KindSecret.
func (Secret) Kind() Kind { return KindSecret }

// Kind is KindAPIKey.
func (APIKey) Kind() Kind { return KindAPIKey }

// Kind is KindAgent.
func (Agent) Kind() Kind { return KindAgent }

// Kind is KindProfileSettings.
func (ProfileSettings) Kind() Kind { return KindProfileSettings }

// Kind is KindProfileWindow.
func (ProfileWindow) Kind() Kind { return KindProfileWindow }

// Kind is KindWebhook.
func (Webhook) Kind() Kind { return KindWebhook }

// Kind is KindCompany.
func (Company) Kind() Kind { return KindCompany }

// Kind is KindCompanySettings.
func (CompanySyncSettings) Kind() Kind { return KindCompanySettings }

// Kind is KindConnection.
func (Connection) Kind() Kind { return KindConnection }

// Kind is KindLinkCode.
func (LinkCode) Kind() Kind { return KindLinkCode }

// Kind is KindScheduledSync.
func (ScheduledSync) Kind() Kind { return KindScheduledSync }

// Kind is KindDataset.
func (Dataset) Kind() Kind { return KindDataset }

// Kind is KindValidation.
func (Validation) Kind() Kind { return KindValidation }

// Kind is KindCachedRecord.
func (CachedRecord) Kind() Kind { return KindCachedRecord }

// Kind is KindPage.
func (Page) Kind() Kind { return KindPage }

// Kind is KindDelivery.
func (Delivery) Kind() Kind { return KindDelivery }

// Kind is KindDeliveryAttempt.
func (DeliveryAttempt) Kind() Kind { return KindDeliveryAttempt }

// Kind is KindAgentEvent.
func (AgentEvent) Kind() Kind { return KindAgentEvent }

// Counts is how many items of each kind a dump holds.
type Counts map[Kind]int

// String lists the kinds present, in the order of Kinds: "API keys: 1,
// companies: 2".
func (c Counts) String() string {
	var parts []string
	for _, k := range Kinds {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, c[k]))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// Errors of Copy.
var (
	// ErrNotEmpty: the target of a copy holds items already.
	ErrNotEmpty = errors.New("the target store is not empty")
	// ErrCountsDiffer: what the target holds after a copy is not what was
	// read from the source.
	ErrCountsDiffer = errors.New("the target's counts differ from the source's")
)

// DumpStore is a backend that can be either end of a move.
type DumpStore interface {
	Exporter
	Importer
}

// notEmptyScan is how many of a non-empty target's items Copy counts to
// say what it holds.
const notEmptyScan = 10_000

// Copy copies every item of from into to, then reads to back and counts
// its items. It refuses a target that holds anything (ErrNotEmpty, saying
// what it found) before writing; it returns ErrCountsDiffer when the
// counts read back are not those read from the source. It returns the
// counts it read from each. Neither store may be written meanwhile.
func Copy(ctx context.Context, from Exporter, to DumpStore) (source, target Counts, err error) {
	found, err := count(ctx, to, notEmptyScan)
	if err != nil {
		return nil, nil, fmt.Errorf("read the target: %w", err)
	}
	if len(found) > 0 {
		return nil, found, fmt.Errorf("%w: it holds %s", ErrNotEmpty, found)
	}
	source = Counts{}
	err = to.Import(ctx, func(yield func(Item) error) error {
		return from.Export(ctx, func(it Item) error {
			source[it.Kind()]++
			return yield(it)
		})
	})
	if err != nil {
		return source, nil, fmt.Errorf("copy: %w", err)
	}
	if target, err = count(ctx, to, 0); err != nil {
		return source, nil, fmt.Errorf("read the target back: %w", err)
	}
	for _, k := range Kinds {
		if source[k] != target[k] {
			return source, target, fmt.Errorf("%w: %s: %d read, %d written", ErrCountsDiffer, k, source[k], target[k])
		}
	}
	return source, target, nil
}

// errEnough stops a count that has seen enough.
var errEnough = errors.New("counted enough")

// count counts the items of s, at most limit of them (0: all).
func count(ctx context.Context, s Exporter, limit int) (Counts, error) {
	c := Counts{}
	n := 0
	err := s.Export(ctx, func(it Item) error {
		c[it.Kind()]++
		if n++; limit > 0 && n >= limit {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	return c, nil
}
