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
	ctx      context.Context
	cancel   context.CancelFunc
	progress atomic.Int32
	mapped   atomic.Bool // its move to Mapping was reported
}

// gathered are the datasets of one connection claimed for its next read,
// which starts once every claim sent for it is answered (the coordinator
// offers a connection's queued datasets one after another, before it
// answers a claim).
type gathered struct {
	ctx  context.Context // the jobs' parent
	b    Binding
	jobs []*job
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
	if s.claiming(o.DatasetID) {
		w.mu.Unlock()
		return
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

// claimNext starts the reads whose claims are all answered, and sends
// claims for waiting offers while there is room: a read of a connection
// whose source reads several types at once (source.MultiSource) takes
// the connection's other offers while its claims are not all answered,
// up to perRead datasets; any other offer needs a read slot of its own
// (w.cfg.Concurrency reads at once, those still claiming counted). The
// room is counted and the claim recorded under one hold of w.mu and s.mu:
// it is called from the reader (an offer, a claimed, a refusal) and from
// each dataset's end at once, and two calls that both counted before
// either recorded claimed one dataset too many, whose claimed the agent
// then ignored, leaving it Fetching until its lease expired.
func (w *Worker) claimNext(s *session) {
	for {
		w.mu.Lock()
		s.mu.Lock()
		w.startGathered(s.claims)
		i := w.nextClaim(s.claims)
		if i < 0 || w.updating != "" {
			s.mu.Unlock()
			w.mu.Unlock()
			return
		}
		o := w.waiting[i]
		w.waiting = slices.Delete(w.waiting, i, i+1)
		id := uuid.NewString()
		s.claims[id] = o
		s.mu.Unlock()
		w.mu.Unlock()
		if err := s.write(protocol.Message{Type: protocol.TypeClaim, ID: id, Claim: &protocol.Claim{DatasetID: o.DatasetID}}); err != nil {
			return
		}
	}
}

// nextClaim is the index in w.waiting of the offer to claim next, -1 when
// there is no room for any; claims are those not yet answered. Called with
// w.mu and s.mu held.
func (w *Worker) nextClaim(claims map[string]protocol.Offer) int {
	slots := w.reads
	size := map[string]int{} // by connection gathering a read: its claims and datasets
	claiming := map[string]bool{}
	for _, o := range claims {
		claiming[o.DatasetID] = true
		if w.shares(o.ConnectionID) {
			size[o.ConnectionID]++
		} else {
			slots++
		}
	}
	for conn, g := range w.gathering {
		size[conn] += len(g.jobs)
	}
	slots += len(size)
	return slices.IndexFunc(w.waiting, func(o protocol.Offer) bool {
		if _, held := w.jobs[o.DatasetID]; held || claiming[o.DatasetID] {
			return false
		}
		if n, gathering := size[o.ConnectionID]; gathering {
			return n < perRead
		}
		return slots < w.cfg.Concurrency
	})
}

// shares reports whether the source of connection conn reads several
// data types at once (source.MultiSource). Called with w.mu held.
func (w *Worker) shares(conn string) bool {
	for _, b := range w.cfg.Bindings {
		if b.ConnectionID == conn {
			_, ok := b.Source.(source.MultiSource)
			return ok
		}
	}
	return false
}

// perRead bounds the datasets one read of a source serves: one of each
// data type, the most a connection has in progress at once.
var perRead = len(dataset.DataTypes)

// maxWaiting bounds the offers kept for when a slot frees: one per data
// type of as many bindings as an agent may have, the most a coordinator
// can have queued for it (a type has one dataset in progress at a time).
var maxWaiting = protocol.MaxBindings * len(dataset.DataTypes)

// startJob takes a claimed dataset of binding b (ok false: none) into the
// read its connection is gathering, unless the agent already works on it,
// and starts the reads whose claims are all answered; a dataset of a
// source that reads one type at a time is a read of its own, started now.
// It is called with w.mu held, and releases it.
func (w *Worker) startJob(ctx context.Context, s *session, c protocol.Claimed, b Binding, ok bool) {
	defer w.mu.Unlock()
	log := w.log.With("dataset", c.DatasetID, "company", c.CompanyID, "dataType", c.DataType)
	if _, held := w.jobs[c.DatasetID]; held {
		w.ignored.log(w.log, "ignored claimed datasets the agent works on", "dataset", c.DatasetID)
		return
	}
	if !ok {
		log.Error("claimed a dataset for a connection this agent does not serve")
		return
	}
	jctx, cancel := context.WithCancel(ctx)
	j := &job{claimed: c, ctx: jctx, cancel: cancel}
	w.jobs[c.DatasetID] = j
	if _, ok := b.Source.(source.MultiSource); !ok {
		w.startRead(&gathered{ctx: ctx, b: b, jobs: []*job{j}})
		return
	}
	g := w.gathering[c.ConnectionID]
	if g == nil {
		g = &gathered{ctx: ctx, b: b}
		w.gathering[c.ConnectionID] = g
	}
	g.jobs = append(g.jobs, j)
	s.mu.Lock()
	w.startGathered(s.claims)
	s.mu.Unlock()
}

// startGathered starts, each in its own goroutine owned by the worker, the
// reads gathered for connections none of whose claims (nil: none) waits
// for an answer. Called with w.mu held.
func (w *Worker) startGathered(claims map[string]protocol.Offer) {
	claiming := map[string]bool{}
	for _, o := range claims {
		claiming[o.ConnectionID] = true
	}
	for conn, g := range w.gathering {
		if claiming[conn] {
			continue
		}
		delete(w.gathering, conn)
		w.startRead(g)
	}
}

// startRead runs the read of g in its own goroutine, owned by the worker.
// Called with w.mu held.
func (w *Worker) startRead(g *gathered) {
	w.reads++
	w.jobWG.Add(1)
	go func() {
		defer w.jobWG.Done()
		w.runRead(g)
		w.mu.Lock()
		w.reads--
		w.mu.Unlock()
		if s := w.current(); s != nil {
			w.claimNext(s)
		}
	}()
}

// endJob ends a dataset, successful or not (err).
func (w *Worker) endJob(j *job, err error) {
	c := j.claimed
	log := w.log.With("dataset", c.DatasetID, "company", c.CompanyID, "dataType", c.DataType)
	if err != nil {
		log.Warn("dataset dropped", "err", err)
	} else {
		log.Info("dataset uploaded")
	}
	j.cancel()
	w.mu.Lock()
	if w.jobs[c.DatasetID] == j {
		delete(w.jobs, c.DatasetID)
	}
	w.mu.Unlock()
	if s := w.current(); s != nil {
		w.claimNext(s)
	}
}

// runRead reads a connection's source once for the datasets gathered
// (source.FetchTypes), each fetched, mapped, uploaded and reported on its
// own: one that fails ends alone, and the read goes on for the others.
// The read stops once every dataset has ended or been dropped.
func (w *Worker) runRead(g *gathered) {
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	var left atomic.Int32
	left.Store(int32(len(g.jobs)))
	types := make([]dataset.DataType, len(g.jobs))
	for i, j := range g.jobs {
		types[i] = j.claimed.DataType
		context.AfterFunc(j.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		w.log.Info("dataset started", "dataset", j.claimed.DatasetID, "company", j.claimed.CompanyID,
			"dataType", j.claimed.DataType, "attempt", j.claimed.Attempt, "read", len(g.jobs))
	}
	mb, err := source.FetchTypes(ctx, g.b.Source, types)
	if err != nil {
		for _, j := range g.jobs {
			w.endJob(j, w.fail(j.ctx, j, err))
		}
		return
	}
	defer mb.Close()
	var sinks []source.Sink
	for _, j := range g.jobs {
		if s, ok := w.sink(j, mb); ok {
			sinks = append(sinks, s)
		}
	}
	mb.Records(ctx, sinks)
}

// sink reports j's move to Mapping, with what the source fetched for it,
// and returns where its records go: pages uploaded as they fill, committed
// when the source is done with its type. False: j ended in Fetching.
func (w *Worker) sink(j *job, mb source.MultiBatch) (source.Sink, bool) {
	c := j.claimed
	warnings, err := mb.Fetched(c.DataType)
	if err != nil {
		w.endJob(j, w.fail(j.ctx, j, err))
		return source.Sink{}, false
	}
	opts := upload.Options{Window: w.uploads, Mapping: func() error { return w.report(j.ctx, j, dataset.Mapping, "", 0) }}
	// With the coordinator's FeatureLastPage, the move to Mapping goes
	// with the first page, unless the report must carry warnings: a small
	// dataset's upload is one request.
	if s := w.current(); s != nil && s.lastPage && len(warnings) == 0 {
		opts.LastPage = true
	} else {
		opts.Mapping = nil
		if err := w.reportWarnings(j.ctx, j, dataset.Mapping, sourceWarnings(warnings)); err != nil {
			w.endJob(j, err)
			return source.Sink{}, false
		}
	}
	pw := upload.NewPageWriter(j.ctx, w.cfg.HTTP, w.cfg.Coordinator, w.cfg.Credential, c.DatasetID, c.LeaseID, opts)
	return source.Sink{Type: c.DataType, Emit: func(rec source.Record) error {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		if err := pw.Write(rec); err != nil {
			return err
		}
		if n := pw.Written(); n%1000 == 0 {
			w.sendProgress(j, mappingProgress(n))
		}
		return nil
	}, Done: func(err error) {
		if err == nil {
			if _, err = pw.Commit(); err != nil {
				err = fmt.Errorf("commit: %w", err)
			}
		}
		pw.Close() // the pages in flight of an upload that failed
		if err != nil {
			err = w.fail(j.ctx, j, err)
		}
		w.endJob(j, err)
	}}, true
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
		// Mapping first, if the upload had not reported it yet: only
		// from Mapping does an agent move a dataset to MapError.
		if !j.mapped.Load() {
			if rerr := w.report(ctx, j, dataset.Mapping, "", 0); rerr != nil {
				return errors.Join(err, rerr)
			}
		}
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

// sourceWarnings are a source's warnings cut to the protocol's bounds: a
// source's message is not the coordinator's problem.
func sourceWarnings(ws []source.Warning) []protocol.Warning {
	var out []protocol.Warning
	for _, sw := range ws {
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
		j.mapped.Store(true)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// claiming reports whether a claim of s for the dataset id waits for its
// answer.
func (s *session) claiming(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.claims {
		if o.DatasetID == id {
			return true
		}
	}
	return false
}
