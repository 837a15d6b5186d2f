// Package publish takes a committed upload from Validating to Complete: it
// runs the standard model's validation rules over the staged records,
// stores what they found, and makes the records the company's cache of
// their data type. The hub hands it each dataset an agent commits; Resume
// takes on the datasets a coordinator that stopped left in Validating or
// Processing.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Config is what the Publisher needs from its owner.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics counts the datasets that end; nil records nothing.
	Metrics *metrics.Metrics
}

// Publisher validates and publishes committed uploads. Start runs its
// loops; Close stops them.
type Publisher struct {
	st  Store
	log *slog.Logger
	now func() time.Time
	m   *metrics.Metrics

	work   *workQueue // datasets to process
	held   companyLocks
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// item names a dataset to take on from Validating.
type item struct{ companyID, datasetID string }

// processLoops is how many datasets are validated and published at once.
// Each step of a dataset is a synced write, so one loop waits on the disk
// most of the time; several share each sync (Badger batches concurrent
// commits). A company's datasets are taken one at a time, in order
// (workQueue), so two swaps of one company's cache never race.
const processLoops = 8

// maxWaiting bounds the datasets waiting for a loop.
const maxWaiting = 4096

// New builds a Publisher.
func New(cfg Config) *Publisher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Publisher{st: cfg.Store, log: cfg.Logger, now: cfg.Now, m: cfg.Metrics,
		work: newWorkQueue(maxWaiting), ctx: ctx, cancel: cancel}
}

// Start runs the process loops.
func (p *Publisher) Start() error {
	p.wg.Add(processLoops)
	for range processLoops {
		go func() { defer p.wg.Done(); p.runProcessLoop(p.ctx) }()
	}
	return nil
}

// Resume takes on the datasets in Validating or Processing that entered
// that status before before: those a coordinator that stopped, or died,
// left unfinished. One replica alone calls it (the leader: all of them
// when it starts leading, then the ones older than a while): a dataset
// another replica is finishing now would be processed twice, which the
// store's transitions make harmless but wasteful.
func (p *Publisher) Resume(ctx context.Context, before time.Time) error {
	pending, err := p.st.Unprocessed(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, d := range pending {
		if len(d.Timeline) > 0 && !d.Timeline[len(d.Timeline)-1].At.Before(before) {
			continue
		}
		p.Publish(d.CompanyID, d.ID)
		n++
	}
	if n > 0 {
		p.log.Info("resumed unfinished datasets", "count", n)
	}
	return nil
}

// Close stops the loops, the dataset each works on included; the next
// Start resumes what is left.
func (p *Publisher) Close() {
	p.cancel()
	p.wg.Wait()
}

// Publish hands a committed dataset, in Validating, to the process
// loops, waiting for room: the commit call that brought it waits
// too, which slows the agents down while processing is behind. (Dropping
// it when the queue was full left it in Validating until the next start:
// the load tool's 15,000 first-link syncs dropped 10,639.) It returns
// without when the Publisher is closing; the next start resumes the
// dataset.
func (p *Publisher) Publish(companyID, datasetID string) {
	p.work.put(p.ctx, item{companyID: companyID, datasetID: datasetID})
}

// runProcessLoop validates and publishes the committed uploads it takes
// from the queue, one at a time, until ctx ends.
func (p *Publisher) runProcessLoop(ctx context.Context) {
	for {
		w, ok := p.work.take(ctx)
		if !ok {
			return
		}
		unlock := p.held.lock(w.companyID)
		p.processWaiting(ctx, w)
		unlock()
		p.work.done(w.companyID)
	}
}

// unavailableFor is how long a process loop waits for a store that cannot
// be reached (its database restarting) before it leaves the dataset to
// the leader's resume; unavailableWait the longest pause between tries.
const (
	unavailableFor  = time.Minute
	unavailableWait = 5 * time.Second
)

// processWaiting processes w; while the store cannot be reached it tries
// again after a pause that doubles, for up to unavailableFor, so that a
// database restart leaves no dataset in Validating until the leader's
// resume minutes later.
func (p *Publisher) processWaiting(ctx context.Context, w item) {
	start := time.Now()
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, unavailableWait) {
		err := p.process(ctx, w)
		if err == nil || ctx.Err() != nil {
			return
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Since(start) > unavailableFor {
			p.log.Error("process dataset", "dataset", w.datasetID, "err", err)
			return
		}
		p.log.Warn("process dataset: the store is unavailable, trying again", "dataset", w.datasetID, "in", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// process takes a dataset from Validating (or Processing, after a restart)
// to Complete, ValidationError or ProcessingError.
func (p *Publisher) process(ctx context.Context, w item) error {
	d, err := p.st.Dataset(ctx, w.companyID, w.datasetID)
	if err != nil {
		return err
	}
	if d.Status == dataset.Validating {
		if d, err = p.validate(ctx, d); err != nil || d.Status != dataset.Processing {
			return err
		}
	}
	if d.Status != dataset.Processing {
		return nil
	}
	d, err = p.st.PublishCache(ctx, d.CompanyID, d.ID, p.now().UTC())
	if err != nil {
		if ctx.Err() != nil {
			return err // stopping: the next start resumes it
		}
		_, rerr := p.transition(ctx, d.CompanyID, d.ID, dataset.ProcessingError, "the cache could not be updated")
		return errors.Join(err, rerr)
	}
	p.ended(d)
	p.log.Info("dataset complete", "dataset", d.ID, "company", d.CompanyID, "dataType", d.DataType)
	return nil
}

// validate runs the validation rules over the staged records, in the
// pass that writes them as the dataset's snapshot, out of readers' sight
// (PublishCache then only swaps it in), stores the results, and moves the
// dataset on to Processing or ValidationError. Warnings are kept and do
// not fail the dataset. A small dataset goes on to Complete in the same
// transaction (finish).
func (p *Publisher) validate(ctx context.Context, d store.Dataset) (store.Dataset, error) {
	res, errs, small, err := p.validateWriting(ctx, d)
	if err != nil {
		return d, err
	}
	var failure string
	if errs > 0 {
		failure = fmt.Sprintf("%d validation errors; see the validation results", errs)
	}
	if small {
		out, err := p.finish(ctx, d, res, failure)
		if !errors.Is(err, store.ErrTooLarge) {
			return out, err
		}
	}
	if err := p.st.SetValidation(ctx, d.CompanyID, d.ID, res); err != nil {
		return d, err
	}
	if failure != "" {
		return p.transition(ctx, d.CompanyID, d.ID, dataset.ValidationError, failure)
	}
	return p.transition(ctx, d.CompanyID, d.ID, dataset.Processing, "")
}

// finish ends a small dataset in one transaction: its validation results,
// then Processing and Complete (or ValidationError), each transition at
// its own time. Each step a commit of its own cost the disk several syncs
// a dataset; one commit shares its sync with the other loops'.
func (p *Publisher) finish(ctx context.Context, d store.Dataset, res store.ValidationResult, failure string) (store.Dataset, error) {
	validated := p.now().UTC()
	out, err := p.st.FinishUpload(ctx, store.Finish{CompanyID: d.CompanyID, DatasetID: d.ID,
		Validation: res, Failure: failure, Validated: validated, Now: p.now().UTC()})
	if errors.Is(err, store.ErrTransition) {
		// Another run finished it first (a replica that resumed it, for
		// one): process goes on from where it is now.
		return p.st.Dataset(ctx, d.CompanyID, d.ID)
	}
	if err != nil {
		return d, err
	}
	p.ended(out)
	if out.Status == dataset.Complete {
		p.log.Info("dataset complete", "dataset", out.ID, "company", out.CompanyID, "dataType", out.DataType)
	}
	return out, nil
}

// Commit is the agent's commit of a small upload, validated and ended
// in the one transaction of Store.FinishUpload (f.LeaseID): d is the
// dataset as the agent's connection sees it, Mapping under leaseID, or
// still Fetching when the agent's last page, last, carries its move to
// Mapping at mapped (FeatureLastPage). last, unless nil, is the upload's
// last page, not yet staged: it is validated after the staged pages and
// staged in the same transaction. Mapping is entered at mapped,
// Validating when the call starts, Processing (or ValidationError) when
// validation ends, Complete at the commit: each transition keeps its own
// time, and nothing is answered before all are durable. The commit then
// costs the agent the validation's time, and no reader sees Validating or
// Processing; in exchange the dataset takes one synced commit where it
// took two (three with its last page, four with Mapping), and no turn of
// a process loop. store.ErrTooLarge, with nothing changed, when its
// records are more than one transaction takes: stage the page, commit it
// with Store.CommitUpload and hand it to Publish.
//
// A company's commits, and the datasets its process loop works on, are
// validated and ended one at a time, in the order they take the
// company's turn: a dataset committed after another of its company is
// validated against the cache that one leaves (an invoice against the
// customers committed just before it), and two swaps of one company's
// cache never race.
func (p *Publisher) Commit(ctx context.Context, d store.Dataset, agentID, leaseID string, last *store.Page, mapped time.Time) (store.Dataset, error) {
	unlock := p.held.lock(d.CompanyID)
	defer unlock()
	committed := p.now().UTC()
	res, errs, small, err := p.runValidation(ctx, d, last)
	if err != nil {
		return d, err
	}
	if !small {
		return d, fmt.Errorf("commit dataset %s: %w", d.ID, store.ErrTooLarge)
	}
	var failure string
	if errs > 0 {
		failure = fmt.Sprintf("%d validation errors; see the validation results", errs)
	}
	validated := p.now().UTC()
	out, err := p.st.FinishUpload(ctx, store.Finish{CompanyID: d.CompanyID, DatasetID: d.ID,
		Validation: res, Failure: failure, Validated: validated, Now: p.now().UTC(),
		LeaseID: leaseID, AgentID: agentID, Committed: committed, Mapped: mapped, Page: last})
	if err != nil || !slices.ContainsFunc(out.Timeline, func(t store.Transition) bool {
		return t.To == dataset.Validating && t.At.Equal(committed)
	}) {
		return out, err // an error, or a commit sent again that another call ended
	}
	p.ended(out)
	if out.Status == dataset.Complete {
		p.log.Info("dataset complete", "dataset", out.ID, "company", out.CompanyID, "dataType", out.DataType)
	}
	return out, nil
}

func (p *Publisher) transition(ctx context.Context, companyID, id string, to dataset.Status, msg string) (store.Dataset, error) {
	d, err := p.st.Report(ctx, store.Report{CompanyID: companyID, DatasetID: id, Actor: store.ActorCoordinator,
		To: to, Message: msg, Now: p.now().UTC()})
	if err == nil {
		p.ended(d)
	}
	return d, err
}

// ended records a dataset that reached a terminal status.
func (p *Publisher) ended(d store.Dataset) {
	if d.Status.Terminal() {
		p.m.DatasetEnded(string(d.Status), d.Completed.Sub(d.Requested))
	}
}

// companyLocks holds one mutex per company while some caller holds or
// waits for it; none is kept for a company nobody is working on.
type companyLocks struct {
	mu    sync.Mutex
	locks map[string]*companyLock
}

type companyLock struct {
	sync.Mutex
	users int // holding or waiting, under companyLocks.mu
}

// lock waits for the company's turn and returns the function that ends
// it.
func (c *companyLocks) lock(companyID string) func() {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*companyLock{}
	}
	l := c.locks[companyID]
	if l == nil {
		l = &companyLock{}
		c.locks[companyID] = l
	}
	l.users++
	c.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		c.mu.Lock()
		if l.users--; l.users == 0 {
			delete(c.locks, companyID)
		}
		c.mu.Unlock()
	}
}
