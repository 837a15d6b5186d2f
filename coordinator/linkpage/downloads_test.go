package linkpage

import (
	"html"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// setupDownloads is setup with a downloads directory holding what make
// installers builds.
func setupDownloads(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	st, err := store.OpenBadger(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"ferry-agent_1.2.3_amd64.deb", "ferry-agent_1.2.3_arm64.deb", "ferry-agent-1.2.3-linux-amd64.tar.gz",
		"ferry-agent-1.2.3-linux-arm64.tar.gz", "ferry-agent-1.2.3-windows-amd64.msi", "SHA256SUMS", "secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("contents of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	h := New(st, slog.New(slog.DiscardHandler), "https://ferry.example", 7*24*time.Hour)
	h.Now = func() time.Time { return now }
	h.Downloads = dir
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); st.Close() })
	code, hash := linkcode.New()
	if err := st.CreateCompany(t.Context(), store.Company{ID: "co", Name: "Acme", Created: now}); err != nil {
		t.Fatal(err)
	}
	c := store.Connection{ID: "cn", CompanyID: "co", PlatformKey: "gnucash", Status: store.PendingAuth, Created: now, LinkCode: code, LinkCodeExpires: now.Add(time.Hour)}
	if err := st.CreateConnection(t.Context(), c, store.LinkCode{Hash: hash, CompanyID: "co", ConnectionID: "cn", Expires: c.LinkCodeExpires}); err != nil {
		t.Fatal(err)
	}
	return srv, code
}

func TestLinkPageOffersEachInstallerWithItsCommand(t *testing.T) {
	srv, code := setupDownloads(t)
	status, body := get(t, srv.URL+"/link/co/cn")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	body = html.UnescapeString(body)
	link := "sudo ferry-agent link --coordinator https://ferry.example --code " + code + " --source gnucash --path /home/you/accounts.gnucash"
	for _, want := range []string{
		`href="https://ferry.example/downloads/ferry-agent_1.2.3_amd64.deb"`,
		"curl -fLO https://ferry.example/downloads/ferry-agent_1.2.3_amd64.deb\nsudo apt install ./ferry-agent_1.2.3_amd64.deb\n" + link,
		"sudo apt install ./ferry-agent_1.2.3_arm64.deb",
		"curl -fL https://ferry.example/downloads/ferry-agent-1.2.3-linux-arm64.tar.gz | tar xz\nsudo ./ferry-agent-1.2.3-linux-arm64/install.sh\n" + link,
		`msiexec /i ferry-agent-1.2.3-windows-amd64.msi COORDINATOR=https://ferry.example LINKCODE=` + code +
			` SOURCE=gnucash BOOKPATH="C:\Users\you\Documents\accounts.gnucash"`,
		`href="https://ferry.example/downloads/SHA256SUMS"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "Ask whoever sent you this link") {
		t.Error("the page asks for an installer although it offers them")
	}
}

func TestDownloadsServeInstallersOnly(t *testing.T) {
	srv, _ := setupDownloads(t)
	for path, want := range map[string]int{
		"/downloads/ferry-agent-1.2.3-windows-amd64.msi": 200,
		"/downloads/SHA256SUMS":                          200,
		"/downloads/secret.txt":                          404,
		"/downloads/ferry-agent_9.9.9_amd64.deb":         404,
		"/downloads/..%2fsecret.txt":                     404,
		"/downloads/":                                    404,
	} {
		status, body := get(t, srv.URL+path)
		if status != want {
			t.Errorf("%s: %d, want %d", path, status, want)
		}
		if want == 200 && body != "contents of "+filepath.Base(path) {
			t.Errorf("%s: served %q", path, body)
		}
	}
}

func TestLinkPageWithoutDownloadsSaysWhereToGetThem(t *testing.T) {
	srv, _, _ := setup(t)
	_, body := get(t, srv.URL+"/link/co/cn")
	if !strings.Contains(body, "Ask whoever sent you this link") || strings.Contains(body, "/downloads/") {
		t.Errorf("page without downloads: %s", body)
	}
	if status, _ := get(t, srv.URL+"/downloads/SHA256SUMS"); status != 404 {
		t.Errorf("downloads without a directory: %d, want 404", status)
	}
}
