package leader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
}

// replica is one leader loop and how many of its work runs are running.
type replica struct {
	l       *Leader
	running atomic.Int32
	cancel  context.CancelFunc
	done    chan struct{}
}

func start(st Store, holder string, ttl time.Duration) *replica {
	r := &replica{done: make(chan struct{})}
	r.l = New(Config{Store: st, Name: "leader", Holder: holder, TTL: ttl}, func(ctx context.Context) {
		r.running.Add(1)
		defer r.running.Add(-1)
		<-ctx.Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); r.l.Run(ctx) }()
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

// TestOneLeads: of two replicas on one store one runs the work; when it
// stops (releasing the lease) the other takes over; a holder that died
// without releasing is replaced once its lease expires.
func TestOneLeads(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = time.Second
	a, b := start(st, "a", ttl), start(st, "b", ttl)
	// Leading is set before the work's goroutine starts: wait for both.
	waitFor(t, "a leader running its work", func() bool {
		return (a.l.Leading() || b.l.Leading()) && a.running.Load()+b.running.Load() == 1
	})
	first, second := a, b
	if b.l.Leading() {
		first, second = b, a
	}
	// A few renewals later, still one.
	until := time.Now().Add(2 * ttl)
	for time.Now().Before(until) {
		if n := first.running.Load() + second.running.Load(); n != 1 || second.l.Leading() {
			t.Fatalf("%d work runs, second leading %v; want one run, the first's", n, second.l.Leading())
		}
		time.Sleep(10 * time.Millisecond) // sampling over renewals, not synchronisation
	}
	first.stop()
	if first.running.Load() != 0 {
		t.Error("the stopped leader's work still runs")
	}
	waitFor(t, "the second to take over", func() bool { return second.l.Leading() && second.running.Load() == 1 })
	second.stop()

	// A holder that died: its lease stands until it expires.
	if held, _, err := st.AcquireLease(t.Context(), "leader", "dead", time.Now(), 2*ttl); err != nil || !held {
		t.Fatalf("the dead holder's lease: %v, %v", held, err)
	}
	taken := time.Now()
	c := start(st, "c", ttl)
	defer c.stop()
	waitFor(t, "c to replace the dead holder", c.l.Leading)
	if waited := time.Since(taken); waited < 2*ttl-50*time.Millisecond {
		t.Errorf("c led after %s, before the dead holder's lease of %s expired", waited, 2*ttl)
	}
}

// flaky is a store whose renewals fail while down is set.
type flaky struct {
	Store
	mu   sync.Mutex
	down bool
}

func (f *flaky) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, time.Time, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return false, time.Time{}, errors.New("database unreachable")
	}
	return f.Store.AcquireLease(ctx, name, holder, now, ttl)
}

// TestRenewalFailureStopsTheWork: a leader that cannot renew stops its
// work (before its lease expires and another may start it), and starts
// it again once it can.
func TestRenewalFailureStopsTheWork(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := &flaky{Store: st}
	r := start(f, "a", time.Second)
	defer r.stop()
	waitFor(t, "leading", func() bool { return r.running.Load() == 1 })
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	waitFor(t, "the work stopped", func() bool { return r.running.Load() == 0 && !r.l.Leading() })
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
	waitFor(t, "leading again", func() bool { return r.running.Load() == 1 })
}
