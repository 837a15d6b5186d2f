package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// datasetView is a pull operation as GET .../data/history/{id} serves it.
type datasetView struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	DataType     string `json:"dataType"`
	Attempt      int    `json:"attempt"`
	Progress     int    `json:"progress"`
	ErrorMessage string `json:"errorMessage"`
	Timeline     []struct {
		From    string `json:"from"`
		To      string `json:"to"`
		Actor   string `json:"actor"`
		Attempt int    `json:"attempt"`
		Message string `json:"message"`
	} `json:"timeline"`
}

func (d datasetView) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s attempt %d progress %d", d.DataType, d.Status, d.Attempt, d.Progress)
	if d.ErrorMessage != "" {
		fmt.Fprintf(&b, " (%s)", d.ErrorMessage)
	}
	for _, e := range d.Timeline {
		fmt.Fprintf(&b, "\n  %s -> %s by %s, attempt %d: %s", e.From, e.To, e.Actor, e.Attempt, e.Message)
	}
	return b.String()
}

// terminal reports whether a dataset status never changes again.
func terminal(status string) bool {
	return status == "Complete" || status == "NotSupported" || strings.HasSuffix(status, "Error")
}

func getDataset(t *testing.T, c *coordinator, company, id string) datasetView {
	t.Helper()
	var d datasetView
	if s := c.do("GET", "/companies/"+company+"/data/history/"+id, nil, &d); s != 200 {
		t.Fatalf("dataset %s: %d", id, s)
	}
	return d
}

// waitDataset polls a dataset until cond holds; a dataset that ends in a
// terminal status cond does not accept fails the test at once.
func waitDataset(t *testing.T, c *coordinator, company, id string, within time.Duration, what string, cond func(datasetView) bool) datasetView {
	t.Helper()
	var d datasetView
	waitFor(t, within, what, func() bool {
		d = getDataset(t, c, company, id)
		if cond(d) {
			return true
		}
		if terminal(d.Status) {
			t.Fatalf("waiting for %s, the dataset ended: %s", what, d)
		}
		return false
	})
	return d
}

// latestSyncs returns dataStatus's latestSyncId per data type.
func latestSyncs(t *testing.T, c *coordinator, company string) map[string]string {
	t.Helper()
	var ds map[string]struct{ LatestSyncID string }
	if s := c.do("GET", "/companies/"+company+"/dataStatus", nil, &ds); s != 200 {
		t.Fatalf("dataStatus: %d", s)
	}
	out := map[string]string{}
	for k, v := range ds {
		out[k] = v.LatestSyncID
	}
	return out
}

// writeBigCustomers writes dir/customers.csv with n customers, ids
// C0000001 upwards, every column one the csv connector knows.
func writeBigCustomers(t *testing.T, dir string, n int) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "customers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,customerName,contactName,emailAddress,phone,defaultCurrency,status")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "%s,Customer %d Ltd,Contact %d,accounts%d@example.com,+44 1632 %06d,GBP,Active\n",
			customerID(i), i, i, i, i%1000000)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func customerID(i int) string { return fmt.Sprintf("C%07d", i) }

// checkAllCustomers pages through GET .../data/customers 5000 at a time
// and checks that exactly the ids C0000001..Cn are served, each once.
func checkAllCustomers(t *testing.T, c *coordinator, company string, n int) {
	t.Helper()
	seen := make(map[string]int, n)
	for page := 1; ; page++ {
		var p struct {
			Results      []struct{ ID string }
			TotalResults int
		}
		path := fmt.Sprintf("/companies/%s/data/customers?pageSize=5000&page=%d", company, page)
		if s := c.do("GET", path, nil, &p); s != 200 {
			t.Fatalf("GET %s: %d", path, s)
		}
		if p.TotalResults != n {
			t.Fatalf("page %d: totalResults %d, the file has %d rows", page, p.TotalResults, n)
		}
		for _, r := range p.Results {
			seen[r.ID]++
		}
		if len(p.Results) < 5000 || page*5000 >= n {
			break
		}
	}
	dups, missing := 0, 0
	for id, k := range seen {
		if k > 1 {
			dups++
			if dups <= 5 {
				t.Errorf("record %s served %d times", id, k)
			}
		}
	}
	for i := 1; i <= n; i++ {
		if seen[customerID(i)] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("record %s is not served", customerID(i))
			}
		}
	}
	if len(seen) != n || dups > 0 || missing > 0 {
		t.Errorf("%d distinct ids served, want %d; %d duplicated, %d missing", len(seen), n, dups, missing)
	}
}

// ferryAgent runs a one-shot ferry-agent command with a deadline and
// returns its combined output. env nil is the test's environment.
func ferryAgent(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "ferry-agent"), args...)
	if env == nil {
		env = os.Environ()
	}
	// The race detector waits a second before a process exits; a command
	// polled in a loop need not.
	cmd.Env = append(withoutEnv(env, "GORACE"), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ferry-agent %s: no exit within 60s\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

// linkInto runs `ferry-agent link` against the coordinator at url, saving
// to config (which may already hold bindings); extra flags go last.
func linkInto(t *testing.T, url, config, code, source, path string, extra ...string) {
	t.Helper()
	args := append([]string{"link", "--config", config, "--coordinator", url, "--code", code,
		"--source", source, "--path", path}, extra...)
	if out, err := ferryAgent(t, nil, args...); err != nil {
		t.Fatalf("ferry-agent link: %v\n%s", err, out)
	}
}

// agentConfig is the part of the agent's config file the tests read.
type agentConfig struct {
	Coordinator string
	CAFile      string
	Bindings    []struct{ ConnectionID, CompanyID, PlatformKey, Path string }
}

func readAgentConfig(t *testing.T, path string) agentConfig {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg agentConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config %s: %v", path, err)
	}
	return cfg
}
