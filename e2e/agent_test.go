package e2e

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleCSV is the sample book shipped in the repo.
var sampleCSV, _ = filepath.Abs("../testdata/sample-csv")

// agentProc is a running ferry-agent.
type agentProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func (a *agentProc) kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}

// runAgent starts `ferry-agent run` (the race build) on a config file.
func runAgent(t *testing.T, config string) *agentProc {
	t.Helper()
	return runAgentBin(t, binDir, config, "--log-level", "debug")
}

// runAgentBin starts `ferry-agent run` of the folder bin on a config file.
func runAgentBin(t *testing.T, bin, config string, extra ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "ferry-agent"), append([]string{"run", "--config", config}, extra...)...)
	// Back within 2 s of a coordinator's restart, not up to a minute.
	cmd.Env = append(os.Environ(), "FERRY_AGENT_RECONNECT_MAX=2s")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agentProc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	})
	return a
}

// setupConnection creates a company and a csv connection and returns their
// ids and the link code.
func setupConnection(t *testing.T, c *coordinator, platform string) (company, conn, code string) {
	t.Helper()
	var co struct{ ID string }
	if s := c.do("POST", "/companies", map[string]any{"name": "E2E Ltd"}, &co); s != 200 {
		t.Fatalf("create company: %d", s)
	}
	var cn struct {
		ID             string
		ConnectionInfo map[string]string
	}
	if s := c.do("POST", "/companies/"+co.ID+"/connections", map[string]any{"platformKey": platform}, &cn); s != 200 {
		t.Fatalf("create connection: %d", s)
	}
	return co.ID, cn.ID, cn.ConnectionInfo["linkCode"]
}

// linkAgent runs `ferry-agent link` and returns the config path.
func linkAgent(t *testing.T, c *coordinator, code, source, path string) string {
	t.Helper()
	config := filepath.Join(t.TempDir(), "agent.json")
	out, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "link", "--config", config,
		"--coordinator", "http://"+c.addr, "--code", code, "--source", source, "--path", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ferry-agent link: %v\n%s", err, out)
	}
	st, err := os.Stat(config)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config %v mode %v, want 0600", err, st.Mode().Perm())
	}
	return config
}

// dataStatus returns currentStatus per data type.
func dataStatus(t *testing.T, c *coordinator, company string) map[string]string {
	t.Helper()
	var ds map[string]struct{ CurrentStatus string }
	if s := c.do("GET", "/companies/"+company+"/dataStatus", nil, &ds); s != 200 {
		t.Fatalf("dataStatus: %d", s)
	}
	out := map[string]string{}
	for k, v := range ds {
		out[k] = v.CurrentStatus
	}
	return out
}

func waitAllComplete(t *testing.T, c *coordinator, company string, within time.Duration) {
	t.Helper()
	waitFor(t, within, "every data type Complete", func() bool {
		for _, st := range dataStatus(t, c, company) {
			if st != "Complete" {
				return false
			}
		}
		return true
	})
}

// TestLinkSyncReadBack links a real agent to the sample CSV book, lets the
// first-link syncs run, and reads every record back through the API.
func TestLinkSyncReadBack(t *testing.T) {
	parallel(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, conn, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", sampleCSV)
	var cn struct{ Status string }
	c.do("GET", "/companies/"+company+"/connections/"+conn, nil, &cn)
	if cn.Status != "Linked" {
		t.Fatalf("connection %s after link, want Linked", cn.Status)
	}
	runAgent(t, config)
	waitAllComplete(t, c, company, 60*time.Second)
	for _, dt := range []string{"company", "chartOfAccounts", "taxRates", "customers", "suppliers", "invoices", "bills", "journalEntries"} {
		compareWithSource(t, c, company, dt)
	}
}

// compareWithSource checks the API's records of a type against the CSV
// file: same ids, and the source's plain columns with the same values.
func compareWithSource(t *testing.T, c *coordinator, company, dt string) {
	t.Helper()
	f, err := os.Open(filepath.Join(sampleCSV, dt+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Results      []map[string]json.RawMessage
		TotalResults int
	}
	if s := c.do("GET", "/companies/"+company+"/data/"+dt+"?pageSize=5000", nil, &page); s != 200 {
		t.Fatalf("%s records: %d", dt, s)
	}
	if page.TotalResults != len(rows)-1 {
		t.Errorf("%s: %d records, the file has %d rows", dt, page.TotalResults, len(rows)-1)
	}
	byID := map[string]map[string]json.RawMessage{}
	for _, r := range page.Results {
		var id string
		_ = json.Unmarshal(r["id"], &id)
		byID[id] = r
	}
	header := rows[0]
	idCol := slices.Index(header, "id")
	for _, row := range rows[1:] {
		id := "company" // the one company record has no id column
		if idCol >= 0 {
			id = row[idCol]
		}
		rec := byID[id]
		if rec == nil {
			t.Errorf("%s: record %s from the file is not served", dt, id)
			continue
		}
		for i, col := range header {
			if strings.ContainsAny(col, ".") || row[i] == "" || strings.HasPrefix(row[i], "[") || strings.HasPrefix(row[i], "{") {
				continue
			}
			got := strings.Trim(string(rec[col]), `"`)
			if got != row[i] {
				t.Errorf("%s %s.%s = %s, the file says %s", dt, id, col, got, row[i])
			}
		}
	}
}
