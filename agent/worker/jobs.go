package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// job is a dataset the agent holds under a lease.
type job struct {
	claimed  protocol.Claimed
	cancel   context.CancelFunc
	progress atomic.Int32
}

// onOffer claims an offered dataset now if there is room, or keeps it for
// when a slot frees.
func (w *Worker) onOffer(s *session, o protocol.Offer) {
	w.mu.Lock()
	if j, held := w.jobs[o.DatasetID]; held {
		if o.Attempt <= j.claimed.Attempt {
			w.mu.Unlock()
			return
		}
		// Offered again under a later attempt: our lease expired. Drop the
		// stale work; the offer waits until that job has ended.
		w.log.Warn("lease lost; the dataset is offered again", "dataset", o.DatasetID, "attempt", o.Attempt)
		j.cancel()
	}
	for _, q := range w.waiting {
		if q.DatasetID == o.DatasetID {
			w.mu.Unlock()
			return
		}
	}
	if !slices.ContainsFunc(w.cfg.Bindings, func(b Binding) bool { return b.ConnectionID == o.ConnectionID }) || len(w.waiting) >= maxWaiting {
		// Not ours, or more than the coordinator can have queued for us:
		// a coordinator offers queued work again on its next pass.
		w.mu.Unlock()
		w.ignored.log(w.log, "ignored offers", "dataset", o.DatasetID, "connection", o.ConnectionID, "waiting", maxWaiting)
		return
	}
	w.waiting = append(w.waiting, o)
	w.mu.Unlock()
	w.claimNext(s)
}

// claimNext sends claims for waiting offers while there is room. The
// room is counted and the claim recorded under one hold of w.mu and s.mu:
// it is called from the reader (an offer, a refusal) and from each job's
// end at once, and two calls that both counted before either recorded
// claimed one dataset too many, whose claimed the agent then ignored,
// leaving it Fetching until its lease expired.
func (w *Worker) claimNext(s *session) {
	for {
		w.mu.Lock()
		s.mu.Lock()
		inFlight := len(w.jobs) + len(s.claims)
		i := slices.IndexFunc(w.waiting, func(o protocol.Offer) bool { _, held := w.jobs[o.DatasetID]; return !held })
		if i < 0 || inFlight >= w.cfg.Concurrency || w.updating != "" {
			s.mu.Unlock()
			w.mu.Unlock()
			return
		}
		o := w.waiting[i]
		w.waiting = slices.Delete(w.waiting, i, i+1)
		id := uuid.NewString()
		s.claims[id] = o.DatasetID
		s.mu.Unlock()
		w.mu.Unlock()
		if err := s.write(protocol.Message{Type: protocol.TypeClaim, ID: id, Claim: &protocol.Claim{DatasetID: o.DatasetID}}); err != nil {
			return
		}
	}
}

// maxWaiting bounds the offers kept for when a slot frees: one per data
// type of as many bindings as an agent may have, the most a coordinator
// can have queued for it (a type has one dataset in progress at a time).
var maxWaiting = protocol.MaxBindings * len(dataset.DataTypes)

// startJob runs a claimed dataset of binding b (ok false: none) in its
// own goroutine, owned by the worker, unless the agent already works on it
// or on as many datasets as its concurrency. It is called with w.mu held,
// and releases it.
func (w *Worker) startJob(ctx context.Context, c protocol.Claimed, b Binding, ok bool) {
	if _, held := w.jobs[c.DatasetID]; held || len(w.jobs) >= w.cfg.Concurrency {
		w.mu.Unlock()
		w.ignored.log(w.log, "ignored claimed datasets over the agent's concurrency", "dataset", c.DatasetID, "concurrency", w.cfg.Concurrency)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	j := &job{claimed: c, cancel: cancel}
	w.jobs[c.DatasetID] = j
	w.mu.Unlock()
	w.jobWG.Add(1)
	go func() {
		defer w.jobWG.Done()
		defer w.endJob(c.DatasetID, j)
		log := w.log.With("dataset", c.DatasetID, "company", c.CompanyID, "dataType", c.DataType)
		if !ok {
			log.Error("claimed a dataset for a connection this agent does not serve")
			return
		}
		log.Info("dataset started", "attempt", c.Attempt)
		if err := w.runJob(ctx, j, b); err != nil {
			log.Warn("dataset dropped", "err", err)
			return
		}
		log.Info("dataset uploaded")
	}()
}

func (w *Worker) endJob(id string, j *job) {
	j.cancel()
	w.mu.Lock()
	if w.jobs[id] == j {
		delete(w.jobs, id)
	}
	w.mu.Unlock()
	if s := w.current(); s != nil {
		w.claimNext(s)
	}
}

// runJob is one dataset: fetch, map and upload, report each step.
func (w *Worker) runJob(ctx context.Context, j *job, b Binding) error {
	c := j.claimed
	batch, err := b.Source.Fetch(ctx, c.DataType)
	if err != nil {
		return w.fail(ctx, j, err)
	}
	defer batch.Close()
	warnings := sourceWarnings(batch)
	if err := w.reportWarnings(ctx, j, dataset.Mapping, warnings); err != nil {
		return err
	}
	pw := upload.NewPageWriter(ctx, w.cfg.HTTP, w.cfg.Coordinator, w.cfg.Credential, c.DatasetID, c.LeaseID, upload.Options{})
	err = batch.Records(ctx, func(rec source.Record) error {
		if err := pw.Write(rec); err != nil {
			return err
		}
		if n := pw.Written(); n%1000 == 0 {
			w.sendProgress(j, mappingProgress(n))
		}
		return nil
	})
	if err != nil {
		return w.fail(ctx, j, err)
	}
	if _, err := pw.Commit(); err != nil {
		return w.fail(ctx, j, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// fail ends a dataset with the status its error calls for: a source's own
// classification, MapError for a record that is not a record, and
// InternalError otherwise. Work whose lease is gone, or that was cancelled,
// is just dropped: another attempt owns the dataset now.
func (w *Worker) fail(ctx context.Context, j *job, err error) error {
	var serr *source.Error
	var perr *protocol.Error
	status, msg, code := dataset.InternalError, err.Error(), ""
	switch {
	case ctx.Err() != nil:
		return err
	case errors.As(err, &perr) && (perr.Code == protocol.CodeStaleLease || perr.Code == protocol.CodeNotFound || perr.Code == protocol.CodeUnauthorized):
		return err
	case errors.As(err, &serr):
		status, msg, code = serr.Status, serr.Message, serr.FetchKind()
	case errors.Is(err, upload.ErrBadRecord):
		status = dataset.MapError
	}
	if rerr := w.send(ctx, j, status, msg, 0, nil, code); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// mappingProgress is the progress of a dataset that has mapped n records,
// not knowing how many there are: it rises from 40 towards 79 and never
// reaches it.
func mappingProgress(n int) int {
	return 40 + 39*n/(n+20000)
}

// sendProgress tells the coordinator how far a dataset got, without
// waiting: a lost progress report costs nothing.
func (w *Worker) sendProgress(j *job, p int) {
	j.progress.Store(int32(p))
	s := w.current()
	if s == nil {
		return
	}
	c := j.claimed
	_ = s.write(protocol.Message{Type: protocol.TypeReport, ID: uuid.NewString(), Report: &protocol.Report{
		CompanyID: c.CompanyID, DatasetID: c.DatasetID, LeaseID: c.LeaseID, To: dataset.Mapping, Progress: p,
	}})
}

// sourceWarnings are the batch's warnings, if it has any, cut to the
// protocol's bounds: a source's message is not the coordinator's problem.
func sourceWarnings(b source.Batch) []protocol.Warning {
	wr, ok := b.(source.Warner)
	if !ok {
		return nil
	}
	var out []protocol.Warning
	for _, sw := range wr.Warnings() {
		pw := protocol.Warning{RuleID: truncate(sw.RuleID, protocol.MaxWarningRuleIDBytes),
			Message: strings.ToValidUTF8(truncate(sw.Message, protocol.MaxWarningMessageBytes), "")}
		pw.Message = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, pw.Message)
		if len(out) == protocol.MaxWarnings || protocol.CheckWarnings([]protocol.Warning{pw}) != nil {
			continue
		}
		out = append(out, pw)
	}
	return out
}

// reportWarnings reports the transition to with the source's warnings,
// whose messages are also the transition's message in the timeline.
func (w *Worker) reportWarnings(ctx context.Context, j *job, to dataset.Status, ws []protocol.Warning) error {
	msgs := make([]string, len(ws))
	for i, wn := range ws {
		msgs[i] = wn.Message
	}
	return w.send(ctx, j, to, strings.Join(msgs, " "), 0, ws, "")
}

// report sends a transition and waits until the coordinator acknowledges it.
func (w *Worker) report(ctx context.Context, j *job, to dataset.Status, msg string, progress int) error {
	return w.send(ctx, j, to, msg, progress, nil, "")
}

// send reports j's move to status to with msg, progress, warnings ws and
// the kind of a FetchError, code (protocol's Fetch* kinds; "" for none).
func (w *Worker) send(ctx context.Context, j *job, to dataset.Status, msg string, progress int, ws []protocol.Warning, code string) error {
	c := j.claimed
	m := protocol.Message{Type: protocol.TypeReport, ID: uuid.NewString(), Report: &protocol.Report{
		CompanyID: c.CompanyID, DatasetID: c.DatasetID, LeaseID: c.LeaseID, To: to, Message: truncate(msg, 4000),
		Progress: progress, Warnings: ws, ErrorCode: code,
	}}
	if err := w.outbox.send(ctx, w, m); err != nil {
		return fmt.Errorf("report %s: %w", to, err)
	}
	if to == dataset.Mapping {
		j.progress.Store(40)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
