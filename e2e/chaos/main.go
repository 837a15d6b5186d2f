// Command chaos runs a ferry-coordinator and hundreds of simulated agents
// through thousands of datasets while it kills the coordinator with
// SIGKILL, kills agent processes, and cuts, delays and refuses the agents'
// connections through a fault-injecting proxy; then it lets the system
// settle and checks the invariants: nothing lost, nothing stuck, nothing
// done twice, every cache equal to its source. It exits 1 on a violation.
//
//	go run ./e2e/chaos -bin bin -agents 200 -datasets 2000 -seed 1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/e2e/faultproxy"
	"github.com/ferry-sync/ferry/e2e/sim"
)

type options struct {
	bin       string
	dir       string
	addr      string
	agents    int
	perProc   int
	datasets  int
	records   int
	seed      uint64
	leaseTTL  time.Duration
	faultEach time.Duration
	duration  time.Duration
	settle    time.Duration
}

func main() {
	sim.ServeAgentsProcess()
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "folder holding ferry-coordinator (make build)")
	flag.StringVar(&o.dir, "dir", "", "working folder; a temp folder when empty")
	flag.StringVar(&o.addr, "listen", "127.0.0.1:18090", "the coordinator's address (the proxy listens on a free port)")
	flag.IntVar(&o.agents, "agents", 200, "simulated agents, each with its own company")
	flag.IntVar(&o.perProc, "per-process", 25, "agents per agent process (a kill takes a whole process)")
	flag.IntVar(&o.datasets, "datasets", 2000, "datasets to queue (first-link ones not counted)")
	flag.IntVar(&o.records, "records", 20, "records in each dataset")
	flag.Uint64Var(&o.seed, "seed", 0, "seed of the faults; 0 picks one (it is printed)")
	flag.DurationVar(&o.leaseTTL, "lease-ttl", 3*time.Second, "the coordinator's lease TTL (short, so that lost work comes back quickly)")
	flag.DurationVar(&o.faultEach, "fault-every", time.Second, "how often a fault is drawn")
	flag.DurationVar(&o.duration, "duration", time.Minute, "inject faults for at least this long (queueing stops at -datasets)")
	flag.DurationVar(&o.settle, "settle", 3*time.Minute, "how long the system may take to settle after the last fault")
	flag.Parse()
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	v.print(os.Stdout)
	if len(v.Violations) > 0 {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (*verdict, error) {
	logf("seed %d", o.seed)
	c, dir, stop, err := sim.Launch(ctx, o.dir, o.bin, o.addr, "chaos-admin-key-0123456789abcdefghij", "--lease-ttl", o.leaseTTL.String())
	defer stop()
	if err != nil {
		return nil, err
	}
	o.dir = dir
	proxy, err := faultproxy.Listen("127.0.0.1:0", o.addr)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	agents, err := sim.Setup(ctx, c, o.agents, 16, nil)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	file := filepath.Join(o.dir, "agents.json")
	if err := sim.SaveAgents(file, agents); err != nil {
		return nil, err
	}
	ch := &chaosRun{o: o, c: c, proxy: proxy, agents: agents, acked: map[string]string{}, fetches: map[string]int{}}
	ch.g = &sim.Group{File: file, Total: o.agents, PerProcess: o.perProc, Coordinator: "http://" + proxy.Addr(),
		Records: o.records, OnEvent: ch.onEvent, Stderr: os.Stderr}
	if err := ch.g.Start(); err != nil {
		return nil, err
	}
	defer ch.g.Stop()
	if err := ch.drive(ctx); err != nil {
		return nil, err
	}
	logf("faults over; settling (up to %s)", o.settle)
	if err := ch.settle(ctx); err != nil {
		logf("did not settle: %v", err)
	}
	return ch.check(ctx)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
