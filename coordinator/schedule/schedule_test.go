package schedule_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/schedule"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if benchDirPath != "" {
			os.RemoveAll(benchDirPath)
		}
		os.Exit(code)
	}))
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)

// env is a store in a temp directory with a queuer and a scheduler on one
// fake clock.
type env struct {
	t     *testing.T
	dir   string
	st    *badgerstore.Badger
	q     *queue.Queuer
	sched *schedule.Scheduler
	clock *clock
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: t0}}
	e.open()
	t.Cleanup(func() { e.st.Close() })
	return e
}

// open (re)opens the store and builds the queuer and scheduler on it, as a
// coordinator's start does.
func (e *env) open() {
	st, err := badgerstore.Open(e.dir, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.q = queue.New(st)
	e.q.Now = e.clock.Now
	e.sched = schedule.New(schedule.Config{Store: st, Queuer: e.q, Now: e.clock.Now, Batch: 7})
}

// restart closes the store and opens it again: what a coordinator restart
// keeps is what the store kept.
func (e *env) restart() {
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// linkedConnection creates a company with a connection linked through its
// link code, and queues the first-link datasets as the hub does.
func (e *env) linkedConnection(co string) {
	ctx := e.t.Context()
	must(e.t, e.st.CreateCompany(ctx, store.Company{ID: co, Name: co, Created: e.clock.Now()}))
	conn := co + "-conn"
	code := store.LinkCode{Hash: []byte("hash-" + conn), Expires: e.clock.Now().Add(time.Hour)}
	c := store.Connection{ID: conn, CompanyID: co, PlatformKey: "gnucash", Status: store.PendingAuth, Created: e.clock.Now()}
	must(e.t, e.st.CreateConnection(ctx, c, code))
	_, err := e.st.RedeemLinkCode(ctx, code.Hash, "agent-"+co, e.clock.Now())
	must(e.t, err)
	_, err = e.q.QueueAll(ctx, co, conn, "first link")
	must(e.t, err)
}

// completeAll ends every Queued dataset of a connection in Complete, as an
// online agent would at once.
func (e *env) completeAll(co string) {
	ctx := e.t.Context()
	conn := co + "-conn"
	queued, _, err := e.st.QueuedDatasets(ctx, conn)
	must(e.t, err)
	now := e.clock.Now()
	for _, d := range queued {
		lease := "lease-" + d.ID
		_, err := e.st.Claim(ctx, store.ClaimRequest{DatasetID: d.ID, AgentID: "agent-" + co, LeaseID: lease, Now: now, TTL: time.Minute})
		must(e.t, err)
		for _, to := range []dataset.Status{dataset.Mapping, dataset.Validating, dataset.Processing, dataset.Complete} {
			r := store.Report{CompanyID: co, DatasetID: d.ID, Actor: store.ActorCoordinator, To: to, Now: now}
			if to == dataset.Mapping {
				r.LeaseID, r.Actor = lease, "agent-"+co
			}
			_, err := e.st.Report(ctx, r)
			must(e.t, err)
		}
	}
}

// requested returns, per data type, the offsets from t0 at which datasets
// of the company were requested, oldest first.
func (e *env) requested(co string) map[dataset.DataType][]time.Duration {
	ds, err := e.st.Datasets(e.t.Context(), co)
	must(e.t, err)
	out := map[dataset.DataType][]time.Duration{}
	for i := len(ds) - 1; i >= 0; i-- {
		out[ds[i].DataType] = append(out[ds[i].DataType], ds[i].Requested.Sub(t0))
	}
	return out
}

func (e *env) tick() schedule.Result {
	res, err := e.sched.Tick(e.t.Context())
	must(e.t, err)
	return res
}

// run ticks every step for d, calling each step's fn first.
func (e *env) run(d, step time.Duration, each func()) {
	for end := e.clock.Now().Add(d); e.clock.Now().Before(end); {
		e.clock.Add(step)
		if each != nil {
			each()
		}
		e.tick()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hours(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n) * time.Hour
	}
	return out
}

func TestDueSyncsQueuedOnTime(t *testing.T) {
	e := newEnv(t)
	must(t, e.st.SetProfileSyncSettings(t.Context(), []store.SyncSetting{
		{DataType: dataset.Invoices, FetchOnFirstLink: true, SyncSchedule: 6, SyncOrder: 5},
		{DataType: dataset.Bills, FetchOnFirstLink: true, SyncSchedule: 0, SyncOrder: 6},
	}))
	e.linkedConnection("co-1")
	e.completeAll("co-1")
	// Three simulated days in ten-minute ticks, the agent finishing all work
	// before each tick.
	e.run(72*time.Hour, 10*time.Minute, func() { e.completeAll("co-1") })
	got := e.requested("co-1")
	checks := map[dataset.DataType][]time.Duration{
		dataset.Customers: hours(0, 24, 48, 72),
		dataset.Invoices:  hours(0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60, 66, 72),
		dataset.Bills:     hours(0),
	}
	for dt, want := range checks {
		if fmt.Sprint(got[dt]) != fmt.Sprint(want) {
			t.Errorf("%s requested at %v, want %v", dt, got[dt], want)
		}
	}
}

func TestNoDoubleWhileInProgress(t *testing.T) {
	e := newEnv(t)
	e.linkedConnection("co-1")
	// The agent never comes online: the first datasets stay Queued. Ticks
	// each hour for five days must not queue a second one of any type.
	e.run(120*time.Hour, time.Hour, nil)
	for dt, at := range e.requested("co-1") {
		if len(at) != 1 {
			t.Errorf("%s: %d datasets (requested %v), want 1", dt, len(at), at)
		}
	}
	// Once the agent has done the work, the type is due on its next turn.
	e.completeAll("co-1")
	e.run(24*time.Hour, time.Hour, nil)
	for dt, at := range e.requested("co-1") {
		if fmt.Sprint(at) != fmt.Sprint(hours(0, 144)) {
			t.Errorf("%s requested at %v, want %v", dt, at, hours(0, 144))
		}
	}
}

func TestNothingQueuedForUnlinked(t *testing.T) {
	e := newEnv(t)
	e.linkedConnection("co-1")
	e.linkedConnection("co-2")
	e.completeAll("co-1")
	e.completeAll("co-2")
	_, err := e.st.UpdateConnection(t.Context(), "co-2", "co-2-conn", func(c *store.Connection) error {
		c.Status, c.AgentID = store.Unlinked, ""
		return nil
	})
	must(t, err)
	e.run(48*time.Hour, 30*time.Minute, func() { e.completeAll("co-1") })
	for dt, at := range e.requested("co-2") {
		if len(at) != 1 {
			t.Errorf("unlinked %s: requested at %v, want only the first link", dt, at)
		}
	}
	if at := e.requested("co-1")[dataset.Invoices]; fmt.Sprint(at) != fmt.Sprint(hours(0, 24, 48)) {
		t.Errorf("linked invoices: requested at %v", at)
	}
	// Linking again re-arms the schedule.
	_, err = e.st.ReplaceLinkCode(t.Context(), "co-2", "co-2-conn",
		store.LinkCode{Hash: []byte("relink"), Expires: e.clock.Now().Add(time.Hour)}, store.Unlinked)
	must(t, err)
	_, err = e.st.RedeemLinkCode(t.Context(), []byte("relink"), "agent-co-2", e.clock.Now())
	must(t, err)
	e.clock.Add(time.Minute)
	if res := e.tick(); res.Queued != len(dataset.DataTypes) {
		t.Errorf("after linking again: queued %d, want %d (overdue)", res.Queued, len(dataset.DataTypes))
	}
}

func TestRestartNeitherSkipsNorDoubles(t *testing.T) {
	e := newEnv(t)
	e.linkedConnection("co-1")
	e.completeAll("co-1")
	// The coordinator is down from 20 h to 30 h: the 24 h syncs fall due
	// while it is down and are queued once at the first tick after start.
	e.run(20*time.Hour, time.Hour, func() { e.completeAll("co-1") })
	e.restart()
	e.clock.Add(10 * time.Hour)
	if res := e.tick(); res.Queued != len(dataset.DataTypes) {
		t.Errorf("first tick after restart: queued %d, want %d", res.Queued, len(dataset.DataTypes))
	}
	e.restart()
	if res := e.tick(); res.Queued != 0 {
		t.Errorf("second tick, after another restart: queued %d, want 0", res.Queued)
	}
	for dt, at := range e.requested("co-1") {
		if fmt.Sprint(at) != fmt.Sprint(hours(0, 30)) {
			t.Errorf("%s requested at %v, want %v", dt, at, hours(0, 30))
		}
	}
}

func TestFirstLinkFollowsFetchOnFirstLink(t *testing.T) {
	e := newEnv(t)
	must(t, e.st.SetProfileSyncSettings(t.Context(), []store.SyncSetting{
		{DataType: dataset.Invoices, FetchOnFirstLink: false, SyncSchedule: 24},
	}))
	must(t, e.st.CreateCompany(t.Context(), store.Company{ID: "co-x", Name: "x", Created: t0}))
	must(t, e.st.SetCompanySyncSettings(t.Context(), store.CompanySyncSettings{
		CompanyID: "co-x", OverridesDefaults: true,
		Settings: []store.SyncSetting{
			{DataType: dataset.Bills, FetchOnFirstLink: false, SyncSchedule: 24},
			{DataType: dataset.Invoices, FetchOnFirstLink: true, SyncSchedule: 24},
		},
	}))
	e.linkedConnection("co-1")
	got := e.requested("co-1")
	if _, ok := got[dataset.Invoices]; ok {
		t.Errorf("invoices queued on first link with fetchOnFirstLink false")
	}
	if len(got) != len(dataset.DataTypes)-1 {
		t.Errorf("first link queued %d types, want %d", len(got), len(dataset.DataTypes)-1)
	}
	// The company's own settings apply to it (the client's for the rest).
	ctx := t.Context()
	conn := store.Connection{ID: "co-x-conn", CompanyID: "co-x", PlatformKey: "csv", Status: store.PendingAuth, Created: t0}
	must(t, e.st.CreateConnection(ctx, conn, store.LinkCode{Hash: []byte("x"), Expires: t0.Add(time.Hour)}))
	_, err := e.st.RedeemLinkCode(ctx, []byte("x"), "agent-x", t0)
	must(t, err)
	_, err = e.q.QueueAll(ctx, "co-x", "co-x-conn", "first link")
	must(t, err)
	got = e.requested("co-x")
	if _, ok := got[dataset.Bills]; ok {
		t.Errorf("bills queued for co-x, whose settings say not to")
	}
	if _, ok := got[dataset.Invoices]; !ok {
		t.Errorf("invoices not queued for co-x, whose settings override the client's")
	}
}

func TestLoopRunsAndStops(t *testing.T) {
	e := newEnv(t)
	e.linkedConnection("co-1")
	e.completeAll("co-1")
	e.clock.Add(25 * time.Hour)
	s := schedule.New(schedule.Config{Store: e.st, Queuer: e.q, Feed: e.st.Feed(), Now: e.clock.Now, Interval: time.Millisecond})
	s.Start()
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, _, err := e.st.QueuedDatasets(context.Background(), "co-1-conn")
		must(t, err)
		if len(q) == len(dataset.DataTypes) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop queued %d of %d due syncs", len(q), len(dataset.DataTypes))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoopWakesWhenArmed: a loop asleep until its next due entry wakes
// when a change arms one due earlier (a shorter schedule), long before its
// Interval of ten hours.
func TestLoopWakesWhenArmed(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	every := func(hours map[dataset.DataType]int) {
		t.Helper()
		list := store.DefaultSyncSettings()
		for i := range list {
			if h, ok := hours[list[i].DataType]; ok {
				list[i].SyncSchedule = h
			}
		}
		must(t, e.st.SetProfileSyncSettings(ctx, list))
	}
	every(map[dataset.DataType]int{dataset.Bills: 1})
	e.linkedConnection("co-1")
	e.completeAll("co-1")
	e.clock.Add(2 * time.Hour) // bills are due; the rest in 22 hours
	s := schedule.New(schedule.Config{Store: e.st, Queuer: e.q, Feed: e.st.Feed(), Now: e.clock.Now, Interval: 10 * time.Hour})
	s.Start()
	defer s.Close()
	waitQueued := func(want dataset.DataType) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			q, _, err := e.st.QueuedDatasets(ctx, "co-1-conn")
			must(t, err)
			for _, d := range q {
				if d.DataType == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not queued", want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The first tick queues bills, which arms them again an hour on: the
	// loop sleeps until then.
	waitQueued(dataset.Bills)
	every(map[dataset.DataType]int{dataset.Bills: 1, dataset.Invoices: 1})
	waitQueued(dataset.Invoices)
}

// TestPausedSkipsTurns: while its connection is paused, a type's
// scheduled turns are skipped (nothing is queued); after the resume it is
// queued again at its next turn.
func TestPausedSkipsTurns(t *testing.T) {
	e := newEnv(t)
	e.linkedConnection("co-1")
	e.completeAll("co-1")
	pause := func(since time.Time) {
		_, err := e.st.UpdateConnection(t.Context(), "co-1", "co-1-conn", func(c *store.Connection) error {
			c.PausedSince = since
			return nil
		})
		must(t, err)
	}
	pause(e.clock.Now())
	var paused int
	for end := e.clock.Now().Add(72 * time.Hour); e.clock.Now().Before(end); {
		e.clock.Add(time.Hour)
		paused += e.tick().Paused
	}
	if want := len(dataset.DataTypes) * 3; paused != want {
		t.Errorf("%d turns skipped while paused, want %d (every type, each day)", paused, want)
	}
	pause(time.Time{})
	e.run(24*time.Hour, time.Hour, nil)
	for dt, at := range e.requested("co-1") {
		if fmt.Sprint(at) != fmt.Sprint(hours(0, 96)) {
			t.Errorf("%s requested at %v, want %v: nothing while paused, then its next turn", dt, at, hours(0, 96))
		}
	}
}
