package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSupportBundle runs the real binaries: support asks a linked agent
// (which has synced a real GnuCash book) for a support bundle, downloads
// it and opens it; it holds the promised files (versions, config, account,
// books' metadata, diagnostics, the agent's log) and no secret: not the
// agent's credential, the link code, an API key, nor any distinctive
// string of the book's contents. `ferry-agent bundle --out` writes the
// same files, as clean. Then support raises the agent's log level for a
// few seconds: the agent logs at debug, falls back to info by itself, and
// both are agent events.
func TestSupportBundle(t *testing.T) {
	parallel(t)
	book := filepath.Join(t.TempDir(), "business-de.gnucash.xml")
	raw, err := os.ReadFile(filepath.Join(gnucashBooks, "business-de.gnucash.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(book, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, _, code := setupConnection(t, c, "gnucash")
	config := linkAgent(t, c, code, "gnucash", book)
	agent := runAgentBin(t, binDir, config) // at its own level, info
	waitAllComplete(t, c, company, 90*time.Second)

	var agents agentsPage
	c.do("GET", "/agents", nil, &agents)
	if len(agents.Results) != 1 {
		t.Fatalf("agents %+v, want one", agents)
	}
	id := agents.Results[0].ID
	var support struct{ APIKey string }
	if s := c.do("POST", "/apiKeys", map[string]any{"name": "desk", "scope": "support"}, &support); s != 201 {
		t.Fatalf("create a support key: %d", s)
	}
	var asked struct{ ID, Status string }
	if s := c.do("POST", "/agents/"+id+"/supportBundle", nil, &asked); s != 202 || asked.Status != "Collecting" {
		t.Fatalf("request a bundle: %d %+v, want 202 Collecting", s, asked)
	}
	var list struct{ Results []struct{ ID, Status string } }
	waitFor(t, 60*time.Second, "the bundle Ready", func() bool {
		c.do("GET", "/agents/"+id+"/supportBundles", nil, &list)
		return len(list.Results) == 1 && list.Results[0].Status == "Ready"
	})
	req, _ := http.NewRequest("GET", c.url()+"/agents/"+id+"/supportBundles/"+asked.ID, nil)
	req.Header.Set("Authorization", "Bearer "+support.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	archive, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("download: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	var cfg struct{ Credential string }
	cfgRaw, _ := os.ReadFile(config)
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil || !strings.HasPrefix(cfg.Credential, "fra_") {
		t.Fatalf("config's credential %q: %v", cfg.Credential, err)
	}
	secrets := append([]string{cfg.Credential, code, c.key, support.APIKey}, bookStrings(t, raw)...)

	files := openBundle(t, archive)
	for _, want := range []string{"README.txt", "versions.json", "config.json", "account.json", "books.json", "diagnostics.json", "logs/agent.log"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the bundle has no %s; it has %v", want, slices.Sorted(maps.Keys(files)))
		}
	}
	checkNoSecrets(t, "the downloaded bundle", archive, files, secrets)
	if s := string(files["books.json"]); !strings.Contains(s, book) || !strings.Contains(s, `"format": "xml"`) {
		t.Errorf("books.json names not the book and its format:\n%s", s)
	}
	if s := string(files["diagnostics.json"]); !strings.Contains(s, `"name": "source"`) {
		t.Errorf("diagnostics.json has no source check:\n%s", s)
	}
	if s := string(files["logs/agent.log"]); !strings.Contains(s, "connected to the coordinator") {
		t.Errorf("the bundle's log does not show the agent connecting:\n%.2000s", s)
	}
	if s := string(files["config.json"]); !strings.Contains(s, `"credential": "[removed]"`) {
		t.Errorf("config.json does not say its credential was removed:\n%s", s)
	}

	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if o, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "bundle", "--config", config, "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("ferry-agent bundle: %v\n%s", err, o)
	}
	local, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	localFiles := openBundle(t, local)
	if got, want := slices.Sorted(maps.Keys(localFiles)), slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Errorf("ferry-agent bundle wrote %v, the agent uploaded %v", got, want)
	}
	checkNoSecrets(t, "ferry-agent bundle's file", local, localFiles, secrets)

	var view struct{ LogLevel string }
	if s := c.do("PATCH", "/agents/"+id, map[string]any{"logLevel": "debug", "for": "10s"}, &view); s != 200 || view.LogLevel != "debug" {
		t.Fatalf("raise the log level: %d %+v", s, view)
	}
	// Something for the agent to log at debug while the level lasts.
	waitFor(t, 10*time.Second, "the agent at debug", func() bool { return strings.Contains(agent.out.String(), "log level raised by support") })
	if s := c.do("POST", "/agents/"+id+"/diagnostics", nil, nil); s != 200 {
		t.Errorf("diagnostics while at debug: %d", s)
	}
	var evs struct {
		Results []struct{ Type, Detail string }
	}
	waitFor(t, 60*time.Second, "the agent back at info, as an event", func() bool {
		c.do("GET", "/agents/"+id+"/events", nil, &evs)
		return len(evs.Results) > 0 && evs.Results[0].Type == "LogLevelChanged" && strings.Contains(evs.Results[0].Detail, "back to info")
	})
	if len(evs.Results) < 2 || evs.Results[1].Type != "LogLevelChanged" || !strings.HasPrefix(evs.Results[1].Detail, "debug for 10s") {
		t.Errorf("events %+v: want the raise before the fall back", evs.Results)
	}
	out2 := agent.out.String()
	raisedAt := strings.Index(out2, "log level raised by support")
	backAt := strings.Index(out2, "log level back to the agent's own")
	if raisedAt < 0 || backAt < raisedAt || !strings.Contains(out2[raisedAt:backAt], "level=DEBUG") {
		t.Errorf("the agent's log shows no debug lines between the raise and the fall back:\n%s", out2)
	}
	if strings.Contains(out2[:max(raisedAt, 0)], "level=DEBUG") || strings.Contains(out2[max(backAt, 0):], "level=DEBUG") {
		t.Errorf("the agent logged at debug outside the raised window:\n%s", out2)
	}
	if s := c.do("PATCH", "/agents/"+id, map[string]any{"logLevel": "debug", "for": "48h"}, nil); s != 400 {
		t.Errorf("raise for 48h: %d, want 400", s)
	}
}

// openBundle reads a gzip tar: name -> contents.
func openBundle(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("the bundle is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("the bundle is not a tar: %v", err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
}

// checkNoSecrets fails the test for each secret found in the archive's
// bytes or in any of its files.
func checkNoSecrets(t *testing.T, what string, archive []byte, files map[string][]byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(archive, []byte(s)) {
			t.Errorf("%s holds %q in its compressed bytes", what, s)
		}
		for name, data := range files {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s: %s holds the secret %q", what, name, s)
			}
		}
	}
}

// bookStrings are distinctive strings of a GnuCash XML book's contents:
// its objects' GUIDs and its customers' and accounts' longer names.
func bookStrings(t *testing.T, book []byte) []string {
	t.Helper()
	var out []string
	for _, re := range []string{`type="guid">([0-9a-f]{32})<`, `<cust:name>([^<]{10,})<`, `<act:name>([^<]{12,})<`} {
		for _, m := range regexp.MustCompile(re).FindAllSubmatch(book, -1) {
			out = append(out, string(m[1]))
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d distinctive strings found in the book", len(out))
	}
	return out
}
