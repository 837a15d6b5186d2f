// Command demo is what `make run` runs: it starts a coordinator on a fresh
// data directory and a local agent on the sample books, links them, and
// shows the first sync reach Complete; then it leaves both running until
// Ctrl-C (or stops them at once with -exit).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-sync/ferry/shared/platform"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	bin, dir, addr, key string
	procs               []*exec.Cmd
}

func run() error {
	d := &demo{}
	flag.StringVar(&d.bin, "bin", "bin", "directory of ferry-coordinator and ferry-agent")
	flag.StringVar(&d.dir, "dir", ".run", "working directory (wiped first)")
	flag.StringVar(&d.addr, "listen", "127.0.0.1:8080", "coordinator address")
	source := flag.String("source", platform.GnuCash, "platform of the sample: gnucash or csv")
	path := flag.String("path", "testdata/sample-gnucash/books.gnucash", "the sample book (gnucash) or folder (csv)")
	exit := flag.Bool("exit", false, "stop both processes once the sync is Complete")
	flag.Parse()
	d.key = "demo-admin-key-change-me-0123456789"
	if err := os.RemoveAll(d.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer d.stopAll()
	if err := d.start(ctx, "coordinator.log", "ferry-coordinator", "--listen", d.addr, "--data", filepath.Join(d.dir, "data")); err != nil {
		return err
	}
	if err := d.waitReady(ctx); err != nil {
		return err
	}
	company, err := d.link(ctx, *source, *path)
	if err != nil {
		return err
	}
	if err := d.start(ctx, "agent.log", "ferry-agent", "run", "--config", filepath.Join(d.dir, "agent.json")); err != nil {
		return err
	}
	if err := d.waitComplete(ctx, company); err != nil {
		return err
	}
	if err := d.show(company); err != nil {
		return err
	}
	if *exit {
		return nil
	}
	fmt.Printf("\nCoordinator: http://%s  (API key: %s)\nPortal: http://%s/portal/ (sign in with the API key)\nLogs: %s/coordinator.log, %s/agent.log\nCtrl-C stops both.\n",
		d.addr, d.key, d.addr, d.dir, d.dir)
	<-ctx.Done()
	return nil
}

func (d *demo) start(ctx context.Context, logName, name string, args ...string) error {
	logf, err := os.Create(filepath.Join(d.dir, logName))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(d.bin, name), args...)
	cmd.Env = append(os.Environ(), "FERRY_ADMIN_KEY="+d.key)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (run make build first)", name, err)
	}
	d.procs = append(d.procs, cmd)
	fmt.Printf("started %s (pid %d), log %s\n", name, cmd.Process.Pid, logf.Name())
	return nil
}

func (d *demo) stopAll() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

// poll calls cond every 50 ms until it is true, ctx ends or within passes.
func poll(ctx context.Context, within time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demo) waitReady(ctx context.Context) error {
	return poll(ctx, 30*time.Second, "the coordinator", func() (bool, error) {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})
}

func (d *demo) api(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+d.addr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// link creates a company and a connection and links an agent to the sample.
func (d *demo) link(ctx context.Context, source, path string) (string, error) {
	var co, conn struct {
		ID             string
		LinkURL        string
		ConnectionInfo map[string]string
	}
	if err := d.api("POST", "/companies", map[string]string{"name": "Demo Company"}, &co); err != nil {
		return "", err
	}
	if err := d.api("POST", "/companies/"+co.ID+"/connections", map[string]string{"platformKey": source}, &conn); err != nil {
		return "", err
	}
	fmt.Printf("company %s, connection %s\nlink page: %s\nlink code: %s\n", co.ID, conn.ID, conn.LinkURL, conn.ConnectionInfo["linkCode"])
	out, err := exec.CommandContext(ctx, filepath.Join(d.bin, "ferry-agent"), "link", "--config", filepath.Join(d.dir, "agent.json"),
		"--coordinator", "http://"+d.addr, "--code", conn.ConnectionInfo["linkCode"], "--source", source, "--path", path).CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return "", fmt.Errorf("ferry-agent link: %w", err)
	}
	return co.ID, nil
}

type status struct {
	DataType      string `json:"dataType"`
	CurrentStatus string `json:"currentStatus"`
}

func (d *demo) waitComplete(ctx context.Context, company string) error {
	var last map[string]status
	err := poll(ctx, 2*time.Minute, "the first sync", func() (bool, error) {
		if err := d.api("GET", "/companies/"+company+"/dataStatus", nil, &last); err != nil {
			return false, err
		}
		for _, s := range last {
			if s.CurrentStatus == "" || s.CurrentStatus == "Queued" || s.CurrentStatus == "Fetching" ||
				s.CurrentStatus == "Mapping" || s.CurrentStatus == "Validating" || s.CurrentStatus == "Processing" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	fmt.Println("\ndata status:")
	types := make([]string, 0, len(last))
	for t := range last {
		types = append(types, t)
	}
	sort.Strings(types)
	bad := false
	for _, t := range types {
		fmt.Printf("  %-16s %s\n", t, last[t].CurrentStatus)
		bad = bad || (last[t].CurrentStatus != "Complete" && last[t].CurrentStatus != "NotSupported")
	}
	if bad {
		return errors.New("a sync failed; see the logs")
	}
	return nil
}

// show prints how many records of each type were synced, and a few.
func (d *demo) show(company string) error {
	fmt.Println()
	for _, dt := range []string{"company", "chartOfAccounts", "taxRates", "customers", "suppliers", "invoices", "bills", "journalEntries"} {
		var page struct {
			Results      []json.RawMessage
			TotalResults int
		}
		if err := d.api("GET", "/companies/"+company+"/data/"+dt+"?pageSize=1", nil, &page); err != nil {
			return err
		}
		fmt.Printf("%d %s synced\n", page.TotalResults, dt)
		if dt == "invoices" || dt == "suppliers" {
			for _, r := range page.Results {
				var buf bytes.Buffer
				_ = json.Indent(&buf, r, "  ", "  ")
				fmt.Println("  " + strings.TrimSpace(buf.String()))
			}
		}
	}
	return nil
}
