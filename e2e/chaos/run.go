package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/e2e/faultproxy"
	"github.com/ferry-sync/ferry/e2e/sim"
	"github.com/ferry-sync/ferry/shared/tick"
)

// chaosRun is one run: the system under test, what was acknowledged to
// the tool, and the faults injected.
type chaosRun struct {
	o      options
	sys    *system
	c      *sim.Coordinator // the API: sys.api
	proxy  *faultproxy.Proxy
	g      *sim.Group
	agents []sim.Agent

	mu      sync.Mutex
	acked   map[string]string // dataset id -> company: queue calls answered 200
	fetches map[string]int    // company -> claims its agent was told it won
	faults  map[string]int
}

func (ch *chaosRun) onEvent(ev sim.Event) {
	if ev.Kind != "fetch" {
		return
	}
	ch.mu.Lock()
	ch.fetches[ev.Company]++
	ch.mu.Unlock()
}

func (ch *chaosRun) queued() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.acked)
}

// drive queues datasets on every company whose last one has ended, round
// after round, while the fault loop runs, until o.datasets were
// acknowledged.
func (ch *chaosRun) drive(ctx context.Context) error {
	fctx, stopFaults := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ch.runFaultLoop(fctx) }()
	defer func() {
		stopFaults()
		wg.Wait()
	}()
	start, last := time.Now(), time.Now()
	for ch.queued() < ch.o.datasets || time.Since(start) < ch.o.duration {
		if err := ctx.Err(); err != nil {
			return err
		}
		_ = sim.Parallel(ctx, len(ch.agents), 16, func(i int) error {
			if ch.queued() >= ch.o.datasets {
				return nil
			}
			co := ch.agents[i].CompanyID
			id, status, err := ch.c.Queue(ctx, co, "customers")
			if err == nil && status == 200 {
				ch.mu.Lock()
				ch.acked[id] = co
				ch.mu.Unlock()
			}
			return nil // 409 (in progress) and a coordinator down are expected
		})
		if n := ch.queued(); time.Since(last) > 5*time.Second {
			logf("%d of %d datasets queued", n, ch.o.datasets)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// runFaultLoop draws a fault every o.faultEach from the seeded generator
// and injects it, until ctx ends; then it heals the network.
func (ch *chaosRun) runFaultLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(ch.o.seed, 0x5eed))
	ch.faults = map[string]int{}
	defer func() {
		ch.proxy.SetDelay(0)
		ch.proxy.SetDown(false)
	}()
	// The first faults are one of each kind, those that lose work first: a
	// short run still has them all.
	first := []int{0, 20, 40, 60, 70}
	if ch.sys.db != nil {
		first = []int{0, 20, 80, 40, 60, 70}
	}
	tick.Every(ctx, ch.o.faultEach, func(ctx context.Context) {
		if len(first) > 0 {
			ch.inject(ctx, rng, first[0])
			first = first[1:]
		} else {
			ch.inject(ctx, rng, rng.IntN(100))
		}
	})
}

func (ch *chaosRun) inject(ctx context.Context, rng *rand.Rand, r int) {
	switch {
	case r < 12:
		i := rng.IntN(len(ch.sys.replicas))
		down := time.Duration(rng.IntN(1500)) * time.Millisecond
		if len(ch.sys.replicas) > 1 {
			logf("fault: kill -9 replica r%d, down %s", i, down)
			ch.faults["replica killed"]++
		} else {
			logf("fault: kill -9 the coordinator, down %s", down)
			ch.faults["coordinator killed"]++
		}
		c := ch.sys.replicas[i]
		c.Kill()
		pause(ctx, down)
		// Started even when ctx ended: the settle needs a coordinator.
		if err := c.Start(context.Background()); err != nil {
			logf("coordinator restart: %v", err)
		}
	case r < 32:
		p := rng.IntN(ch.g.Processes())
		down := time.Duration(rng.IntN(3000)) * time.Millisecond
		logf("fault: kill -9 agent process %d, down %s", p, down)
		ch.faults["agent process killed"]++
		ch.g.KillProcess(p)
		pause(ctx, down)
		if err := ch.g.StartProcess(p); err != nil {
			logf("agent process restart: %v", err)
		}
	case r < 52:
		n := ch.proxy.Cut()
		logf("fault: cut %d agent connections", n)
		ch.faults["connections cut"]++
	case r < 67:
		d := time.Duration(20+rng.IntN(400)) * time.Millisecond
		logf("fault: delay every chunk by %s for 2s", d)
		ch.faults["delay"]++
		ch.proxy.SetDelay(d)
		pause(ctx, 2*time.Second)
		ch.proxy.SetDelay(0)
	case r < 77:
		logf("fault: network down for agents (refused, cut) for 1.5s")
		ch.faults["network down"]++
		ch.proxy.SetDown(true)
		ch.proxy.Cut()
		pause(ctx, 1500*time.Millisecond)
		ch.proxy.SetDown(false)
	case r < 84 && ch.sys.db != nil:
		down := time.Duration(rng.IntN(3000)) * time.Millisecond
		logf("fault: PostgreSQL stopped as in a crash, down %s", down)
		ch.faults["database restarted"]++
		ch.sys.db.Stop(true)
		pause(ctx, down)
		// Started even when ctx ended: the settle needs the database.
		if err := ch.sys.db.Start(); err != nil {
			logf("database restart: %v", err)
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// settle waits until every agent is online and every acknowledged dataset
// has ended.
func (ch *chaosRun) settle(ctx context.Context) error {
	deadline := time.Now().Add(ch.o.settle)
	for {
		online := ch.g.Online()
		open, err := ch.openDatasets(ctx)
		if err == nil && online == len(ch.agents) && open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents online, %d datasets not ended (%v)", online, len(ch.agents), open, err)
		}
		pause(ctx, 500*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// openDatasets counts the companies whose newest customers dataset has not
// ended.
func (ch *chaosRun) openDatasets(ctx context.Context) (int, error) {
	var open atomic.Int64
	err := sim.Parallel(ctx, len(ch.agents), 16, func(i int) error {
		_, status, err := ch.c.Latest(ctx, ch.agents[i].CompanyID, "customers")
		if err != nil {
			return err
		}
		if !sim.Terminal(status) {
			open.Add(1)
		}
		return nil
	})
	return int(open.Load()), err
}
