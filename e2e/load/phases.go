package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/coordinator/memlimit"
	"github.com/ferry-sync/ferry/e2e/sim"
)

// events receives the agents' fetch events, by company.
type events struct {
	mu     sync.Mutex
	fetch  map[string]chan int64
	closes atomic.Int64
}

func newEvents() *events { return &events{fetch: map[string]chan int64{}} }

func (e *events) ch(company string) chan int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.fetch[company]
	if c == nil {
		c = make(chan int64, 64)
		e.fetch[company] = c
	}
	return c
}

func (e *events) on(ev sim.Event) {
	switch ev.Kind {
	case "fetch":
		select {
		case e.ch(ev.Company) <- ev.At:
		default:
		}
	case "close":
		e.closes.Add(1)
	}
}

// drain forgets the fetch events of a company so far.
func (e *events) drain(company string) {
	c := e.ch(company)
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func (l *loadRun) setup(ctx context.Context) error {
	path := filepath.Join(l.o.dir, "agents.json")
	if l.o.reuse {
		agents, err := sim.LoadAgents(path)
		if err == nil && len(agents) != l.o.agents {
			err = fmt.Errorf("%s holds %d agents, not -agents %d", path, len(agents), l.o.agents)
		}
		l.agents = agents
		return err
	}
	start := time.Now()
	// Linked straight to a coordinator: the link exchange limits each
	// source address, and through HAProxy every agent would share one.
	agents, err := sim.Setup(ctx, l.replicas[0], l.o.agents, l.o.setupConc, func(n int) { logf("setup: %d agents linked", n) })
	if err != nil {
		return err
	}
	l.agents = agents
	l.r.SetupSeconds = time.Since(start).Seconds()
	return sim.SaveAgents(path, agents)
}

func (l *loadRun) connect(ctx context.Context) error {
	l.g = &sim.Group{
		File: filepath.Join(l.o.dir, "agents.json"), Total: l.o.agents, PerProcess: l.o.perProc,
		Coordinator: l.c.URL(), Records: l.o.records, Big: l.o.big, BigRecords: l.o.bigRecords,
		Ramp: l.o.ramp, OnEvent: l.events.on, Stderr: logWriter{},
	}
	l.r.AgentProcesses = l.g.Processes()
	if l.db != nil {
		// No restart phase on replicas: their memory before the agents
		// is read here, after the setup.
		var err error
		if l.r.RSSBeforeAgents, err = l.rss(); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := l.g.Start(); err != nil {
		return err
	}
	err := waitUntil(ctx, 5*time.Minute+l.o.ramp, func() bool {
		n := l.g.Online()
		l.r.Connected = max(l.r.Connected, n)
		return n >= l.o.agents
	})
	l.r.ConnectSeconds = time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%d of %d agents online: %w", l.g.Online(), l.o.agents, err)
	}
	logf("connect: %d agents online in %.1fs", l.o.agents, l.r.ConnectSeconds)
	// The first link queued every type: customers syncs, the rest end
	// NotSupported. Wait for that wave to end before measuring.
	return l.waitComplete(ctx, l.allCompanies())
}

func (l *loadRun) allCompanies() []int {
	out := make([]int, len(l.agents))
	for i := range out {
		out[i] = i
	}
	return out
}

// waitComplete polls dataStatus until the customers dataset of every agent
// in idx is Complete: the first link's wave, whose ids the tool does not
// know.
func (l *loadRun) waitComplete(ctx context.Context, idx []int) error {
	return l.poll(ctx, idx, func(i int) (bool, error) {
		id, status, err := l.c.Latest(ctx, l.agents[i].CompanyID, "customers")
		if err != nil {
			return false, err
		}
		if sim.Terminal(status) && status != "Complete" {
			return false, fmt.Errorf("agent %d: customers dataset %s ended %s", i, id, status)
		}
		return status == "Complete", nil
	})
}

// waitDatasets polls each dataset of ids (by agent) by its id, as a
// client that queued it would (Codat's get-pull-operation), until it is
// Complete, and returns each as last read, timeline and all. One dataset's
// read costs the coordinator far less than the company's dataStatus,
// which reads every type's newest and newest Complete datasets.
func (l *loadRun) waitDatasets(ctx context.Context, ids map[int]string) (map[int]sim.Dataset, error) {
	var mu sync.Mutex
	done := make(map[int]sim.Dataset, len(ids))
	err := l.poll(ctx, slices.Collect(maps.Keys(ids)), func(i int) (bool, error) {
		d, err := l.c.Dataset(ctx, l.agents[i].CompanyID, ids[i])
		if err != nil {
			return false, err
		}
		if sim.Terminal(d.Status) && d.Status != "Complete" {
			return false, fmt.Errorf("agent %d: customers dataset %s ended %s", i, d.ID, d.Status)
		}
		if d.Status != "Complete" {
			return false, nil
		}
		mu.Lock()
		done[i] = d
		mu.Unlock()
		return true, nil
	})
	return done, err
}

// poll asks complete of every agent in idx, 8 at once, once a second,
// until each has answered true once.
func (l *loadRun) poll(ctx context.Context, idx []int, complete func(i int) (bool, error)) error {
	pending := slices.Clone(idx)
	deadline := time.Now().Add(10 * time.Minute)
	for len(pending) > 0 {
		var mu sync.Mutex
		var still []int
		err := sim.Parallel(ctx, len(pending), 8, func(k int) error {
			ok, err := complete(pending[k])
			if err != nil || ok {
				return err
			}
			mu.Lock()
			still = append(still, pending[k])
			mu.Unlock()
			return nil
		})
		if err != nil {
			return err
		}
		pending = still
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d datasets not Complete after 10 minutes", len(pending))
			}
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *loadRun) measureIdle(ctx context.Context) error {
	// Let the last uploads' garbage be collected before reading memory.
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	cpu0, err := l.cpu()
	if err != nil {
		return err
	}
	agents0 := l.agentsCPU()
	start := time.Now()
	profiled := l.captureProfiles(ctx, "idle", l.o.idle, false)
	err = sleep(ctx, l.o.idle)
	profiled()
	if err != nil {
		return err
	}
	cpu1, err := l.cpu()
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	l.r.IdleCPUPercent = 100 * (cpu1 - cpu0).Seconds() / secs
	l.r.IdleAgentsCPUPercent = 100 * (l.agentsCPU() - agents0).Seconds() / secs
	if l.r.RSSIdle, err = l.rss(); err != nil {
		return err
	}
	l.r.BytesPerAgent = float64(l.r.RSSIdle-l.r.RSSBeforeAgents) / float64(l.o.agents)
	if err := l.saveHeap(ctx, "idle"); err != nil {
		return err
	}
	logf("idle: RSS %d MiB, %.0f B/agent, CPU %.1f%% (agent processes %.1f%%)", l.r.RSSIdle>>20, l.r.BytesPerAgent, l.r.IdleCPUPercent, l.r.IdleAgentsCPUPercent)
	return nil
}

// measureDispatch queues one dataset at a time, each on another agent, and
// times it from the queue call's answer (and from its start) to the agent
// holding the lease (the synthetic source's Fetch, whose clock the agent
// process reads). On replicas each is queued on a replica other than the
// one holding the agent's channel, when there is one. Each sample is then
// split at the coordinator's reading of the agent's claim (the Fetching
// step of the dataset's timeline, by the coordinator's clock): before it,
// the change feed, the offer and the agent's claim; after it, the synced
// claim, the claimed message and the agent's start of the read. The CPU
// of the coordinator, of the agent processes and of the machine meanwhile
// say who else ran.
func (l *loadRun) measureDispatch(ctx context.Context) error {
	n := min(l.o.dispatch, l.o.agents-l.o.big)
	if n <= 0 {
		return nil
	}
	samples := make([]dispatchSample, 0, n)
	want := map[int]string{}
	l.r.DispatchVia = "the coordinator"
	if l.db != nil {
		l.r.DispatchVia = "a replica other than the agent's"
		if len(l.replicas) == 1 {
			l.r.DispatchVia = "the agent's own replica (the only one)"
		}
	}
	profiled := l.captureProfiles(ctx, "dispatch", l.o.profileSecs, true)
	use, lsm := l.sampleUse(ctx), l.sampleLSM(ctx)
	probe, err := startRoundTrips(ctx, 10*time.Millisecond)
	if err != nil {
		use()
		profiled()
		return err
	}
	err = func() error {
		for k := range n {
			i := l.o.big + k*(l.o.agents-l.o.big)/n
			s, err := l.dispatchOne(ctx, i)
			if err != nil {
				return err
			}
			samples, want[i] = append(samples, s), s.id
			if err := sleep(ctx, 10*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	}()
	l.r.DispatchUse, l.r.DispatchLSM = use(), lsm()
	profiled()
	rtt, perr := probe()
	if err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("round trips beside the dispatch: %w", perr)
	}
	l.r.ProbeRoundTrips = len(rtt)
	l.r.ProbeP50, l.r.ProbeP99, l.r.ProbeMax = sim.Percentiles(rtt)
	l.r.DispatchSamples = n
	var fromAnswer, fromCall []time.Duration
	for _, s := range samples {
		fromAnswer = append(fromAnswer, max(0, s.fetch.Sub(s.answered)))
		fromCall = append(fromCall, s.fetch.Sub(s.sent))
	}
	l.r.DispatchP50, l.r.DispatchP99, l.r.DispatchMax = sim.Percentiles(fromAnswer)
	l.r.QueueToLeaseP50, l.r.QueueToLeaseP99, _ = sim.Percentiles(fromCall)
	logf("dispatch: p50 %s p99 %s max %s", l.r.DispatchP50, l.r.DispatchP99, l.r.DispatchMax)
	if _, err := l.waitDatasets(ctx, want); err != nil {
		return err
	}
	return l.splitDispatch(ctx, samples)
}

// dispatchSample is one dataset of the dispatch phase: when its queue call
// was sent and answered, when the agent's source was asked for it (by the
// agent process's clock) and when the coordinator read the agent's claim
// (by its own, from the timeline: splitDispatch).
type dispatchSample struct {
	agent, id        string
	sent, answered   time.Time
	fetch, claimRead time.Time
}

// dispatchOne queues customers on agent i and waits for its Fetch.
func (l *loadRun) dispatchOne(ctx context.Context, i int) (dispatchSample, error) {
	co := l.agents[i].CompanyID
	via := l.c
	if l.db != nil {
		r, err := l.agentReplica(ctx, i)
		if err != nil {
			return dispatchSample{}, err
		}
		via = l.replicas[(r+1)%len(l.replicas)]
	}
	l.events.drain(co)
	s := dispatchSample{agent: co, sent: time.Now()}
	id, status, err := via.Queue(ctx, co, "customers")
	s.answered, s.id = time.Now(), id
	if err != nil || status != 200 {
		return s, fmt.Errorf("queue on agent %d: status %d, %v", i, status, err)
	}
	select {
	case at := <-l.events.ch(co):
		s.fetch = time.Unix(0, at)
		return s, nil
	case <-time.After(30 * time.Second):
		return s, fmt.Errorf("agent %d did not start dataset %s within 30s", i, id)
	case <-ctx.Done():
		return s, ctx.Err()
	}
}

// splitDispatch reads each sample's timeline for the time the coordinator
// read the agent's claim, and sets the two legs' percentiles.
func (l *loadRun) splitDispatch(ctx context.Context, samples []dispatchSample) error {
	err := sim.Parallel(ctx, len(samples), 8, func(k int) error {
		s := &samples[k]
		d, err := l.c.Dataset(ctx, s.agent, s.id)
		if err != nil {
			return err
		}
		for _, st := range d.Timeline {
			if st.To == "Fetching" {
				s.claimRead = st.At
				return nil
			}
		}
		return fmt.Errorf("dataset %s has no Fetching step", s.id)
	})
	if err != nil {
		return err
	}
	var offer, claim []time.Duration
	for _, s := range samples {
		offer = append(offer, max(0, s.claimRead.Sub(s.answered)))
		claim = append(claim, max(0, s.fetch.Sub(s.claimRead)))
	}
	l.r.OfferLegP50, l.r.OfferLegP99, l.r.OfferLegMax = sim.Percentiles(offer)
	l.r.ClaimLegP50, l.r.ClaimLegP99, l.r.ClaimLegMax = sim.Percentiles(claim)
	slices.SortFunc(samples, func(a, b dispatchSample) int { return cmp.Compare(b.fetch.Sub(b.answered), a.fetch.Sub(a.answered)) })
	for _, s := range samples[:min(5, len(samples))] {
		logf("dispatch: slow sample %s: %s in all, offer leg %s, claim leg %s", s.id,
			s.fetch.Sub(s.answered), s.claimRead.Sub(s.answered), s.fetch.Sub(s.claimRead))
	}
	logf("dispatch legs: answered → claim read p50 %s p99 %s max %s; claim read → Fetch p50 %s p99 %s max %s",
		l.r.OfferLegP50, l.r.OfferLegP99, l.r.OfferLegMax, l.r.ClaimLegP50, l.r.ClaimLegP99, l.r.ClaimLegMax)
	return nil
}

// measureDatasets queues small datasets on many agents at once and times
// them through the whole lifecycle, by the coordinator's own timelines.
func (l *loadRun) measureDatasets(ctx context.Context) error {
	n := min(l.o.datasets, l.o.agents-l.o.big)
	if n <= 0 {
		return nil
	}
	idx := make([]int, n)
	for k := range idx {
		idx[k] = l.o.big + k*(l.o.agents-l.o.big)/n
	}
	profiled := l.captureProfiles(ctx, "datasets", l.o.profileSecs, true)
	use, lsm := l.sampleUse(ctx), l.sampleLSM(ctx)
	ids, err := l.queueAll(ctx, idx)
	if err != nil {
		use()
		profiled()
		return err
	}
	sp, err := l.span(ctx, idx, ids)
	l.r.DatasetsUse, l.r.DatasetsLSM = use(), lsm()
	profiled()
	if err != nil {
		return err
	}
	first, last, steps := sp.first, sp.last, sp.steps
	secs := last.Sub(first).Seconds()
	l.r.DatasetsQueueSeconds = sp.lastQueued.Sub(first).Seconds()
	l.r.DatasetsClaimP50, l.r.DatasetsClaimP99, _ = sim.Percentiles(sp.claim)
	l.r.DatasetsFinishP50, l.r.DatasetsFinishP99, _ = sim.Percentiles(sp.finish)
	l.r.SmallDatasets, l.r.SmallRecords, l.r.QueueCallers = n, l.o.records, l.o.queueCallers
	l.r.DatasetsPerSec = float64(n) / secs
	l.r.TransitionsPerSec = float64(steps) / secs
	logf("datasets: %d in %.2fs: %.0f/s, %.0f transitions/s; queued over %.2fs, Queued → Fetching p50 %s p99 %s, Fetching → Complete p50 %s p99 %s",
		n, secs, l.r.DatasetsPerSec, l.r.TransitionsPerSec, l.r.DatasetsQueueSeconds,
		l.r.DatasetsClaimP50, l.r.DatasetsClaimP99, l.r.DatasetsFinishP50, l.r.DatasetsFinishP99)
	return nil
}

// measureRecords queues the big agents' datasets at once; records per
// second is their records over the time from the first queued to the last
// Complete, with the coordinator's peak memory meanwhile.
func (l *loadRun) measureRecords(ctx context.Context) error {
	if l.o.big == 0 {
		return nil
	}
	idx := make([]int, l.o.big)
	for i := range idx {
		idx[i] = i
	}
	// The limit just before the phase, beside the baseline's after the
	// run: on a shared machine it moves between the two.
	before, err := measureBatchLimit(filepath.Join(l.o.dir, "batch-before"), l.o.bigRecords)
	if err != nil {
		return fmt.Errorf("the WriteBatch limit before the records: %w", err)
	}
	l.r.BatchRecordsPerSecBefore = before
	peak, use := l.samplePeakRSS(), l.sampleUse(ctx)
	ids, err := l.queueAll(ctx, idx)
	if err != nil {
		peak()
		use()
		return err
	}
	sp, err := l.span(ctx, idx, ids)
	l.r.PeakRSSRecords, l.r.RecordsUse = peak(), use()
	if err != nil {
		return err
	}
	first, last := sp.first, sp.last
	total := l.o.big * l.o.bigRecords
	l.r.BigDatasets, l.r.BigRecords = l.o.big, l.o.bigRecords
	l.r.RecordsPerSec = float64(total) / last.Sub(first).Seconds()
	l.r.RecordsUploadP50, _, l.r.RecordsUploadMax = sim.Percentiles(sp.upload)
	l.r.RecordsProcessP50, _, l.r.RecordsProcessMax = sim.Percentiles(sp.process)
	logf("records: %d in %.2fs: %.0f/s (%s the WriteBatch limit of %.0f/s measured just before), peak RSS %d MiB; upload p50 %s max %s, Validating → Complete p50 %s max %s",
		total, last.Sub(first).Seconds(), l.r.RecordsPerSec, ratio(l.r.RecordsPerSec, before), before, l.r.PeakRSSRecords>>20,
		l.r.RecordsUploadP50, l.r.RecordsUploadMax, l.r.RecordsProcessP50, l.r.RecordsProcessMax)
	return nil
}

// samplePeakRSS samples the coordinator's memory every 100 ms until the
// returned function is called, which returns the peak.
func (l *loadRun) samplePeakRSS() func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := l.rss(); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); wg.Wait(); return peak.Load() }
}

// queueAll queues customers on each agent in idx from -queue-callers
// callers at once.
func (l *loadRun) queueAll(ctx context.Context, idx []int) (map[int]string, error) {
	ids := make([]string, len(idx))
	err := sim.Parallel(ctx, len(idx), l.o.queueCallers, func(k int) error {
		id, status, err := l.c.Queue(ctx, l.agents[idx[k]].CompanyID, "customers")
		if err != nil || status != 200 {
			return fmt.Errorf("queue on agent %d: status %d, %v", idx[k], status, err)
		}
		ids[k] = id
		return nil
	})
	want := map[int]string{}
	for k, i := range idx {
		want[i] = ids[k]
	}
	return want, err
}

// spanned is what the timelines of datasets queued at once say: the
// first Queued, the last Queued, the last Complete, how many transitions,
// and each one's Queued → Fetching and Fetching → Complete.
type spanned struct {
	first, lastQueued, last time.Time
	steps                   int
	claim, finish           []time.Duration
	// upload is Fetching → Validating, process Validating → the end, of
	// each dataset that has both.
	upload, process []time.Duration
}

// span waits for the datasets to be Complete and reads their timelines.
func (l *loadRun) span(ctx context.Context, idx []int, ids map[int]string) (spanned, error) {
	var sp spanned
	done, err := l.waitDatasets(ctx, ids)
	if err != nil {
		return sp, err
	}
	for _, i := range idx {
		d := done[i]
		if len(d.Timeline) == 0 {
			return sp, errors.New("dataset " + d.ID + " has no timeline")
		}
		q, c := d.Timeline[0].At, d.Timeline[len(d.Timeline)-1].At
		var fetching, validating time.Time
		for _, st := range d.Timeline {
			if st.To == "Fetching" && fetching.IsZero() {
				fetching = st.At
			}
			if st.To == "Validating" && validating.IsZero() {
				validating = st.At
			}
		}
		if sp.first.IsZero() || q.Before(sp.first) {
			sp.first = q
		}
		if q.After(sp.lastQueued) {
			sp.lastQueued = q
		}
		if c.After(sp.last) {
			sp.last = c
		}
		if !fetching.IsZero() {
			sp.claim, sp.finish = append(sp.claim, fetching.Sub(q)), append(sp.finish, c.Sub(fetching))
			if !validating.IsZero() {
				sp.upload, sp.process = append(sp.upload, validating.Sub(fetching)), append(sp.process, c.Sub(validating))
			}
		}
		sp.steps += len(d.Timeline)
	}
	return sp, nil
}

// measureRestart pauses the agent processes (SIGSTOP), kills the
// coordinator with SIGKILL, starts it again on the same data, reads its
// memory once it has settled with no agent yet (restartSettle), then resumes the
// agents (SIGCONT) and times every agent's return from then, with the
// coordinator's CPU meanwhile. The settled memory before the agents return,
// and the idle memory after, give the memory per connected agent without
// the garbage of the syncs the run made so far nor the restart's own.
func (l *loadRun) measureRestart(ctx context.Context) error {
	if err := l.g.Pause(); err != nil {
		return err
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = l.g.Resume()
		}
	}()
	l.c.Kill()
	start := time.Now()
	if err := l.c.Start(ctx); err != nil {
		return err
	}
	l.r.RestartReadySeconds = time.Since(start).Seconds()
	var err error
	settleStart := time.Now()
	read := func() (time.Duration, int64, error) {
		c, err := l.c.CPU()
		if err != nil {
			return 0, 0, err
		}
		v, err := l.c.RSS()
		return c, v, err
	}
	if l.r.RSSBeforeAgents, l.r.RSSSettled, err = restartSettle.settle(ctx, read); err != nil {
		return err
	}
	l.r.RSSSettleSeconds = time.Since(settleStart).Seconds()
	if err := l.saveHeap(ctx, "settled"); err != nil {
		return err
	}
	logf("restart: ready in %.1fs, RSS %d MiB after %.1fs with the agents paused (settled: %v)", l.r.RestartReadySeconds, l.r.RSSBeforeAgents>>20, l.r.RSSSettleSeconds, l.r.RSSSettled)
	cpu0, _ := l.c.CPU()
	start = time.Now()
	resumed = true
	if err := l.g.Resume(); err != nil {
		return err
	}
	// The agent processes report every 250 ms: wait for them to notice
	// the loss before counting returns.
	if err := waitUntil(ctx, 30*time.Second, func() bool { return l.g.Online() < l.o.agents }); err != nil {
		return fmt.Errorf("agents did not notice the restart: %w", err)
	}
	err = waitUntil(ctx, 5*time.Minute, func() bool { return l.g.Online() >= l.o.agents })
	l.r.ReconnectSeconds = time.Since(start).Seconds()
	cpu1, _ := l.c.CPU()
	l.r.ReconnectCPUPercent = 100 * (cpu1 - cpu0).Seconds() / time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%d of %d agents back: %w", l.g.Online(), l.o.agents, err)
	}
	logf("restart: all agents back in %.1fs from their resumption", l.r.ReconnectSeconds)
	return nil
}

// settler says when a process just started has settled: its RSS is
// read every every; it has settled once the readings of the last span are
// within band of each other and the process took less than cpu of a core
// over them, or after most, whichever is first.
type settler struct {
	every, span, most time.Duration
	band              int64
	cpu               float64
}

// restartSettle is the restarted coordinator's settling. Its span is
// longer than memlimit.Quiet: the coordinator replays its store after a
// restart (hundreds of MiB, held steady for seconds at a time), and only
// Quiet after its last collection does memlimit collect and hand back
// what the replay grew to; a span of CPU below 5% of a core is past the
// replay, and RSS still over more than Quiet is past that return, or a
// process that collects on its own in its steady state.
var restartSettle = settler{every: 500 * time.Millisecond, span: memlimit.Quiet + 2*time.Second, most: 2 * time.Minute, band: 1 << 20, cpu: 0.05}

// settle reads the process's CPU time and RSS (read) until it has
// settled (see settler) and returns the last RSS, and whether it settled
// before
// s.most: a process just started is still opening its store and
// replaying it, and has not yet had its first collection nor handed
// memory back.
func (s settler) settle(ctx context.Context, read func() (time.Duration, int64, error)) (int64, bool, error) {
	type reading struct {
		at  time.Time
		cpu time.Duration
		rss int64
	}
	var last []reading
	deadline := time.Now().Add(s.most)
	for {
		c, v, err := read()
		if err != nil {
			return 0, false, err
		}
		now := time.Now()
		last = append(last, reading{now, c, v})
		for len(last) > 1 && now.Sub(last[1].at) >= s.span {
			last = last[1:]
		}
		if first := last[0]; now.Sub(first.at) >= s.span {
			lo, hi := v, v
			for _, r := range last {
				lo, hi = min(lo, r.rss), max(hi, r.rss)
			}
			if hi-lo <= s.band && (c-first.cpu).Seconds() < s.cpu*now.Sub(first.at).Seconds() {
				return v, true, nil
			}
		}
		if now.After(deadline) {
			return v, false, nil
		}
		if err := sleep(ctx, s.every); err != nil {
			return 0, false, err
		}
	}
}

func (l *loadRun) measureBaseline(ctx context.Context) error {
	b, err := measureBaseline(filepath.Join(l.o.dir, "baseline"), l.o.bigRecords)
	l.r.Baseline = b
	if err != nil {
		return err
	}
	bare, err := measureBare(ctx, l.o.agents)
	l.r.BareBytesPerConn, l.r.BareRSSBefore, l.r.BareRSSIdle = bare.BytesPerConn, bare.Before, bare.Idle
	if err != nil || l.db == nil {
		return err
	}
	l.r.PGBaseline, err = measurePGBaseline(ctx, l.db, l.o.queueCallers, l.o.bigRecords)
	return err
}

func waitUntil(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// logWriter passes the agent processes' standard error to the tool's.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) { logf("agents: %s", p); return len(p), nil }
