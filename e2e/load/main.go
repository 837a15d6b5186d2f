// Command load runs a ferry-coordinator with thousands of simulated agents
// (the real agent worker over a synthetic source, spread over processes and
// loopback source addresses) and reports what it holds: agents connected,
// memory per agent, heartbeat CPU, dispatch latency, datasets and records
// per second, and the time to reconnect every agent after a kill -9 of the
// coordinator; beside the same machine's limits (a raw websocket round
// trip, raw Badger writes).
//
//	go run ./e2e/load -bin bin -agents 2000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

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
}

func main() {
	sim.ServeAgentsProcess()
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
	flag.Parse()
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
	c, dir, stop, err := sim.Launch(ctx, o.dir, o.bin, o.addr, "load-admin-key-0123456789abcdefghijk",
		// The tool is one client polling for thousands of companies from one
		// address: the per-address cap, which is there for real clients,
		// would measure the tool, not the coordinator.
		"--max-connections-per-address", "-1")
	defer stop()
	if err != nil {
		return nil, err
	}
	o.dir = dir
	r := &report{Agents: o.agents, Started: time.Now().UTC()}
	l := &loadRun{o: o, c: c, r: r, events: newEvents()}
	err = l.phases(ctx)
	r.Finished = time.Now().UTC()
	return r, err
}

// loadRun holds one run's pieces.
type loadRun struct {
	o      options
	c      *sim.Coordinator
	r      *report
	g      *sim.Group
	agents []sim.Agent
	events *events
}

func (l *loadRun) phases(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"setup", l.setup},
		{"connect", l.connect},
		{"restart", l.measureRestart},
		{"idle", l.measureIdle},
		{"dispatch", l.measureDispatch},
		{"datasets", l.measureDatasets},
		{"records", l.measureRecords},
		{"baseline", l.measureBaseline},
	}
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
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
