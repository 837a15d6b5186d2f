package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
)

// Event is one line an agent process writes on its standard output.
type Event struct {
	Kind    string `json:"k"`           // "online" (count), "fetch", "close"
	Company string `json:"c,omitempty"` // for fetch and close
	At      int64  `json:"t,omitempty"` // Unix nanoseconds
	Online  int    `json:"n,omitempty"`
}

// ServeAgentsProcess runs AgentsMain and exits when the tool was started as
// an agent process (`TOOL agents …`, as Group starts it); otherwise it
// returns at once. A tool's main calls it first.
func ServeAgentsProcess() {
	if len(os.Args) < 2 || os.Args[1] != "agents" {
		return
	}
	if err := AgentsMain(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "agents:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// AgentsMain is the agent process: `TOOL agents -agents FILE -from A -to B
// -coordinator URL -records R`. It runs agents [from, to) of the file, each
// the real agent worker over a Synthetic source connecting from its own
// loopback address, and writes Events on standard output until SIGTERM or
// standard input closes.
func AgentsMain(args []string) error {
	fs := flag.NewFlagSet("agents", flag.ContinueOnError)
	file := fs.String("agents", "", "agents file written by the tool")
	from := fs.Int("from", 0, "first agent")
	to := fs.Int("to", 0, "end of the range (exclusive)")
	url := fs.String("coordinator", "", "coordinator URL")
	records := fs.Int("records", 10, "records per dataset")
	ramp := fs.Duration("ramp", 0, "spread the first connections over this long")
	big := fs.Int("big", 0, "agents with an index below this have -big-records records")
	bigRecords := fs.Int("big-records", 0, "records per dataset of the first -big agents")
	backoffMax := fs.Duration("backoff-max", 0, "cap of each agent's reconnect backoff; 0: the agent's own (a minute)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	all, err := LoadAgents(*file)
	if err != nil {
		return err
	}
	if *from < 0 || *to > len(all) || *from >= *to {
		return fmt.Errorf("range [%d, %d) outside the %d agents", *from, *to, len(all))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	out := &eventWriter{w: bufio.NewWriterSize(os.Stdout, 64<<10)}
	recs := func(index int) int {
		if index < *big {
			return *bigRecords
		}
		return *records
	}
	return runAgents(ctx, all[*from:*to], *url, recs, *ramp, *backoffMax, out)
}

func runAgents(ctx context.Context, agents []Agent, url string, records func(index int) int, ramp, backoffMax time.Duration, out *eventWriter) error {
	discard := slog.New(slog.DiscardHandler)
	hc := upload.NewHTTPClient(discard, nil)
	tr := hc.HTTPClient.Transport.(*http.Transport)
	// Thousands of agents of one process committing at once would each
	// open a connection (real agents are on thousands of machines); the
	// coordinator's open-files limit (20,000) holds the websockets and
	// these together, so a process opens at most 128.
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 64, 128
	workers := make([]*worker.Worker, len(agents))
	for i, a := range agents {
		src := &Synthetic{Index: a.Index, Records: records(a.Index),
			OnFetch: func() { out.emit(Event{Kind: "fetch", Company: a.CompanyID, At: time.Now().UnixNano()}) },
			OnClose: func() { out.emit(Event{Kind: "close", Company: a.CompanyID, At: time.Now().UnixNano()}) },
		}
		workers[i] = worker.New(worker.Config{
			Coordinator: url, Credential: a.Credential, Version: "sim", Logger: discard, HTTP: hc,
			Bindings: []worker.Binding{{ConnectionID: a.ConnectionID, CompanyID: a.CompanyID, Source: src}},
			NetDial:  DialFrom(SourceAddr(a.Index)), BackoffMax: backoffMax,
		})
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		if ramp > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(ramp / time.Duration(len(workers))):
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(ctx) }()
		if i%100 == 0 {
			out.emit(Event{Kind: "online", Online: online(workers)})
		}
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for ctx.Err() == nil {
		out.emit(Event{Kind: "online", Online: online(workers)})
		out.flush()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	wg.Wait()
	out.flush()
	return nil
}

func online(ws []*worker.Worker) int {
	n := 0
	for _, w := range ws {
		if w != nil && w.Status().Connected {
			n++
		}
	}
	return n
}

// eventWriter writes Events as JSON lines; fetch and close lines are
// flushed at once, so their times reach the tool promptly.
type eventWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (e *eventWriter) emit(ev Event) {
	raw, _ := json.Marshal(ev)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(append(raw, '\n'))
	if ev.Kind != "online" {
		e.w.Flush()
	}
}

func (e *eventWriter) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Flush()
}
