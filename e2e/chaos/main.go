// Command chaos runs a ferry-coordinator and hundreds of simulated agents
// through thousands of datasets while it kills the coordinator with
// SIGKILL, kills agent processes, and cuts, delays and refuses the agents'
// connections through a fault-injecting proxy; then it lets the system
// settle and checks the invariants: nothing lost, nothing stuck, nothing
// done twice, every cache equal to its source. It exits 1 on a violation.
//
// With -store postgres it starts a PostgreSQL server of its own and
// -replicas coordinators on it behind HAProxy (the agents' connections go
// through the fault proxy to HAProxy); its faults then also kill replicas
// and restart the database.
//
//	go run ./e2e/chaos -bin bin -agents 200 -datasets 2000 -seed 1
//	go run ./e2e/chaos -bin bin -store postgres -replicas 3
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

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
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
	backoff   time.Duration
	store     string
	replicas  int
}

func main() {
	sim.ServeAgentsProcess()
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "folder holding ferry-coordinator (make build)")
	flag.StringVar(&o.dir, "dir", "", "working folder; a temp folder when empty")
	flag.StringVar(&o.addr, "listen", "127.0.0.1:18090", "the coordinator's address with -store badger (the proxy listens on a free port; replicas too)")
	flag.IntVar(&o.agents, "agents", 200, "simulated agents, each with its own company")
	flag.IntVar(&o.perProc, "per-process", 25, "agents per agent process (a kill takes a whole process)")
	flag.IntVar(&o.datasets, "datasets", 2000, "datasets to queue (first-link ones not counted)")
	flag.IntVar(&o.records, "records", 20, "records in each dataset")
	flag.Uint64Var(&o.seed, "seed", 0, "seed of the faults; 0 picks one (it is printed)")
	flag.DurationVar(&o.leaseTTL, "lease-ttl", 3*time.Second, "the coordinator's lease TTL (short, so that lost work comes back quickly)")
	flag.DurationVar(&o.faultEach, "fault-every", time.Second, "how often a fault is drawn")
	flag.DurationVar(&o.duration, "duration", time.Minute, "inject faults for at least this long (queueing stops at -datasets)")
	flag.DurationVar(&o.settle, "settle", 3*time.Minute, "how long the system may take to settle after the last fault")
	flag.DurationVar(&o.backoff, "backoff-max", 0, "cap of the agents' reconnect backoff (short, so that the agents are back soon after the last fault); 0: the agent's own, a minute")
	flag.StringVar(&o.store, "store", "badger", "badger: one coordinator on its data folder; postgres: -replicas coordinators on a PostgreSQL server the tool starts, behind HAProxy")
	flag.IntVar(&o.replicas, "replicas", 1, "coordinator replicas (with -store postgres)")
	flag.Parse()
	if o.store != "badger" && o.store != "postgres" || o.replicas < 1 || o.replicas > 1 && o.store != "postgres" {
		fmt.Fprintln(os.Stderr, "chaos: -store is badger (one replica) or postgres (one or more)")
		os.Exit(2)
	}
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
	sys, stop, err := launch(ctx, &o)
	defer stop()
	if err != nil {
		return nil, err
	}
	proxy, err := faultproxy.Listen("127.0.0.1:0", sys.api.Addr)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	// Linked straight to a coordinator: the link exchange limits each
	// source address, and through HAProxy every agent would share one.
	agents, err := sim.Setup(ctx, sys.replicas[0], o.agents, 16, nil)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	file := filepath.Join(o.dir, "agents.json")
	if err := sim.SaveAgents(file, agents); err != nil {
		return nil, err
	}
	ch := &chaosRun{o: o, sys: sys, c: sys.api, proxy: proxy, agents: agents, acked: map[string]string{}, fetches: map[string]int{}}
	ch.g = &sim.Group{File: file, Total: o.agents, PerProcess: o.perProc, Coordinator: "http://" + proxy.Addr(),
		Records: o.records, BackoffMax: o.backoff, OnEvent: ch.onEvent, Stderr: os.Stderr}
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

// system is what a run drives: one coordinator on Badger, or replicas on
// PostgreSQL behind HAProxy.
type system struct {
	api      *sim.Coordinator   // where API calls and agents go
	replicas []*sim.Coordinator // the processes the faults kill
	db       *pgtest.Server     // nil on Badger
}

// launch starts the system o asks for and sets o.dir to the working
// folder.
func launch(ctx context.Context, o *options) (*system, func(), error) {
	args := []string{"--lease-ttl", o.leaseTTL.String()}
	if o.store == "badger" {
		c, dir, stop, err := sim.Launch(ctx, o.dir, o.bin, o.addr, chaosKey, args...)
		o.dir = dir
		return &system{api: c, replicas: []*sim.Coordinator{c}}, stop, err
	}
	cl, dir, stop, err := sim.LaunchCluster(ctx, o.dir, o.bin, chaosKey, o.replicas, pgtest.Options{}, args...)
	o.dir = dir
	if err != nil {
		return nil, stop, err
	}
	logf("PostgreSQL on port %d, %d replicas behind HAProxy on %s", cl.DB.Port, len(cl.Replicas), cl.LB.Addr)
	return &system{api: cl.API, replicas: cl.Replicas, db: cl.DB}, stop, nil
}

const chaosKey = "chaos-admin-key-0123456789abcdefghij"

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
