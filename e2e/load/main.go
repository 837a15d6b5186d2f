// Command load runs a ferry-coordinator with thousands of simulated agents
// (the real agent worker over a synthetic source, spread over processes and
// loopback source addresses) and reports what it holds: agents connected,
// memory per agent, heartbeat CPU, dispatch latency, datasets and records
// per second, and the time to reconnect every agent after a kill -9 of the
// coordinator; beside the same machine's limits (a raw websocket round
// trip, raw Badger writes).
//
// With -store postgres it starts a PostgreSQL server of its own (fsync on)
// and -replicas coordinators on it behind HAProxy instead: the agents and
// the API go through HAProxy, dispatch is queued on a replica other than
// the agent's, -kill-replica times the agents' return after a kill -9 of
// the replica holding the most, and the limits add a raw PostgreSQL commit
// rate and a raw COPY of the same records, on the same server.
//
//	go run ./e2e/load -bin bin -agents 2000
//	go run ./e2e/load -bin bin -agents 500 -store postgres -replicas 3 -kill-replica
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/e2e/sim"
)

type options struct {
	bin        string
	dir        string
	addr       string
	agents     int
	perProc    int
	ramp       time.Duration
	idle       time.Duration
	dispatch   int
	datasets   int
	records    int
	big        int
	bigRecords int
	jsonOut    string
	setupConc  int
	// queueCallers is how many API callers queue at once in the
	// datasets and records phases (and the writers of PostgreSQL's raw
	// commit rate).
	queueCallers int
	store        string
	replicas     int
	killRep      bool
	// profile, when set, is a folder for the coordinator's profiles:
	// heap settled and idle, CPU and trace of the dispatch (profile.go).
	profile     string
	profileSecs time.Duration
	debugAddr   string
	// reuse takes the agents an earlier run linked in dir.
	reuse bool
}

func main() {
	sim.ServeAgentsProcess()
	serveBareProcess()
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "folder holding ferry-coordinator (make build)")
	flag.StringVar(&o.dir, "dir", "", "working folder (coordinator data, agents file, logs); a temp folder when empty")
	flag.StringVar(&o.addr, "listen", "127.0.0.1:18080", "the coordinator's address")
	flag.IntVar(&o.agents, "agents", 1000, "simulated agents")
	flag.IntVar(&o.perProc, "per-process", 5000, "agents per agent process (each agent is one open file)")
	flag.DurationVar(&o.ramp, "ramp", 10*time.Second, "spread the agents' first connections over this long")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "how long to measure the idle coordinator's CPU (two heartbeats at the default lease)")
	flag.IntVar(&o.dispatch, "dispatch", 200, "datasets queued one at a time to measure dispatch latency")
	flag.IntVar(&o.datasets, "datasets", 1000, "small datasets queued at once to measure datasets per second")
	flag.IntVar(&o.records, "records", 10, "records in each small dataset")
	flag.IntVar(&o.big, "big", 4, "agents whose datasets are big, queued at once to measure records per second")
	flag.IntVar(&o.bigRecords, "big-records", 50000, "records in each big dataset")
	flag.StringVar(&o.jsonOut, "json", "", "also write the figures as JSON to this file")
	flag.IntVar(&o.setupConc, "setup-concurrency", 64, "API calls at once while making companies, connections and links")
	flag.IntVar(&o.queueCallers, "queue-callers", 32, "API callers queueing at once in the datasets and records phases: each waits for its answer, so the small datasets per second is at most this over the queue call's latency")
	flag.StringVar(&o.store, "store", "badger", "badger: one coordinator on its data folder; postgres: -replicas coordinators on a PostgreSQL server the tool starts (fsync on), behind HAProxy")
	flag.IntVar(&o.replicas, "replicas", 1, "coordinator replicas (with -store postgres)")
	flag.BoolVar(&o.killRep, "kill-replica", false, "with -store postgres and -replicas 2 or more: kill -9 the replica holding the most agents and time their return to the others")
	flag.StringVar(&o.profile, "profile", "", "with -store badger: write into this folder, from the coordinator's profiler, its heap profile, goroutines, MemStats and mappings settled before the agents return and idle with them, and an execution trace and a CPU profile of the first -profile-seconds of the dispatch phase and of the datasets phase, and a CPU profile of the idle phase")
	flag.DurationVar(&o.profileSecs, "profile-seconds", 20*time.Second, "how long -profile traces")
	flag.BoolVar(&o.reuse, "reuse", false, "with -dir and -store badger: the agents an earlier run with the same -agents linked in -dir (its agents.json and the coordinator's data) rather than new ones, skipping the setup")
	flag.StringVar(&o.debugAddr, "debug-listen", "127.0.0.1:18090", "with -store badger: where the coordinator serves its profiler and Badger's counters")
	flag.Parse()
	if o.reuse && (o.dir == "" || o.store != "badger") {
		fmt.Fprintln(os.Stderr, "load: -reuse needs -dir and -store badger")
		os.Exit(2)
	}
	if o.store != "badger" && o.store != "postgres" || o.replicas < 1 || o.replicas > 1 && o.store != "postgres" || o.killRep && o.replicas < 2 {
		fmt.Fprintln(os.Stderr, "load: -store is badger (one coordinator) or postgres (-replicas 1 or more; -kill-replica needs 2 or more)")
		os.Exit(2)
	}
	if o.profile != "" {
		// The profiles are written minutes into the run: a folder that
		// cannot be made fails now, not after the setup.
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "load: -profile:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, o)
	if r != nil {
		r.print(os.Stdout)
		if o.jsonOut != "" {
			if werr := r.writeJSON(o.jsonOut); werr != nil {
				fmt.Fprintln(os.Stderr, "load:", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (*report, error) {
	if o.big >= o.agents {
		return nil, fmt.Errorf("-big %d must be below -agents %d", o.big, o.agents)
	}
	r := &report{Agents: o.agents, Store: o.store, Replicas: o.replicas, Started: time.Now().UTC(), Cores: runtime.NumCPU()}
	l := &loadRun{o: o, r: r, events: newEvents(), killed: -1}
	if o.store == "postgres" {
		// The cluster's replicas allow any number of connections per
		// address already: behind HAProxy every caller comes from HAProxy.
		cl, dir, stop, err := sim.LaunchCluster(ctx, o.dir, o.bin, loadKey, o.replicas, pgtest.Options{Durable: true})
		defer stop()
		if err != nil {
			return nil, err
		}
		l.o.dir, l.c, l.replicas, l.db = dir, cl.API, cl.Replicas, cl.DB
		logf("PostgreSQL on port %d, %d replicas behind HAProxy on %s", cl.DB.Port, len(cl.Replicas), cl.LB.Addr)
	} else {
		// The tool is one client polling for thousands of companies from one
		// address: the per-address cap, which is there for real clients,
		// would measure the tool, not the coordinator.
		// The debug listener serves Badger's counters (every run reads
		// them around the dispatch and the small datasets) and, with
		// -profile, the profiler.
		args := []string{"--max-connections-per-address", "-1", "--debug-listen", o.debugAddr}
		c, dir, stop, err := sim.Launch(ctx, o.dir, o.bin, o.addr, loadKey, args...)
		defer stop()
		if err != nil {
			return nil, err
		}
		l.o.dir, l.c, l.replicas = dir, c, []*sim.Coordinator{c}
	}
	err := l.phases(ctx)
	r.Finished = time.Now().UTC()
	return r, err
}

const loadKey = "load-admin-key-0123456789abcdefghijk"

// loadRun holds one run's pieces.
type loadRun struct {
	o options
	// c is where the API calls and the agents go: the coordinator, or
	// HAProxy in front of the replicas.
	c *sim.Coordinator
	// replicas are the coordinator processes: c alone on Badger.
	replicas []*sim.Coordinator
	db       *pgtest.Server // nil on Badger
	killed   int            // the replica the kill-replica phase killed; -1 before
	r        *report
	g        *sim.Group
	agents   []sim.Agent
	events   *events
}

func (l *loadRun) phases(ctx context.Context) error {
	type step struct {
		name string
		fn   func(context.Context) error
	}
	steps := []step{{"setup", l.setup}, {"connect", l.connect}}
	if l.db == nil {
		steps = append(steps, step{"restart", l.measureRestart})
	}
	steps = append(steps, step{"idle", l.measureIdle}, step{"dispatch", l.measureDispatch},
		step{"datasets", l.measureDatasets}, step{"records", l.measureRecords})
	if l.o.killRep {
		steps = append(steps, step{"kill-replica", l.measureKillReplica})
	}
	steps = append(steps, step{"baseline", l.measureBaseline})
	defer func() {
		if l.g != nil {
			l.g.Stop()
		}
	}()
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("phase %s", s.name)
		if err := s.fn(ctx); err != nil {
			err = fmt.Errorf("%s: %w", s.name, err)
			if s.name != "baseline" && ctx.Err() == nil {
				// What was measured before the failure is still set
				// beside its limits.
				logf("phase baseline, after %v", err)
				if berr := l.measureBaseline(ctx); berr != nil {
					err = errors.Join(err, fmt.Errorf("baseline: %w", berr))
				} else {
					l.r.Phases = append(l.r.Phases, "baseline")
				}
			}
			return err
		}
		l.r.Phases = append(l.r.Phases, s.name)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
