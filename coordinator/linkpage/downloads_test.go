package linkpage

import (
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// setupDownloads is setup with a downloads directory holding what make
// installers builds.
func setupDownloads(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"ferry-agent_1.2.3_amd64.deb", "ferry-agent_1.2.3_arm64.deb", "ferry-agent-1.2.3-linux-amd64.tar.gz",
		"ferry-agent-1.2.3-linux-arm64.tar.gz", "ferry-agent-1.2.3-windows-amd64.msi", "SHA256SUMS", "secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("contents of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return setupWith(t, dir)
}

// The page offers the installers before a code is issued, and with the
// code, each with the commands that link it.
func TestLinkPageOffersEachInstallerWithItsCommand(t *testing.T) {
	f := setupDownloads(t)
	b := f.browser()
	_, page := b.get(f.page("cn"))
	if !strings.Contains(page, `href="https://ferry.example/downloads/ferry-agent_1.2.3_amd64.deb"`) {
		t.Errorf("the page before a code lacks the installers: %s", page)
	}
	action, form := b.form("cn")
	_, body := b.post(action, form, sameSite)
	m := codeRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no code issued: %s", body)
	}
	code := m[1]
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
	f := setupDownloads(t)
	for path, want := range map[string]int{
		"/downloads/ferry-agent-1.2.3-windows-amd64.msi": 200,
		"/downloads/SHA256SUMS":                          200,
		"/downloads/secret.txt":                          404,
		"/downloads/ferry-agent_9.9.9_amd64.deb":         404,
		"/downloads/..%2fsecret.txt":                     404,
		"/downloads/":                                    404,
	} {
		status, body := f.browser().get(path)
		if status != want {
			t.Errorf("%s: %d, want %d", path, status, want)
		}
		if want == 200 && body != "contents of "+filepath.Base(path) {
			t.Errorf("%s: served %q", path, body)
		}
	}
}
