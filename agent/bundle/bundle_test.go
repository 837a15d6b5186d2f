package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestRedact(t *testing.T) {
	raw := []byte(`{"coordinator":"https://ferry.example.com","credential":"fra_secret-1",
		"proxy":"http://alice:pa55word@proxy.corp:3128","proxyPassword":"pw-2","apiKey":"k-3",
		"bindings":[{"path":"/books/a.gnucash","token":"t-4"}],"concurrency":2}`)
	out, err := Redact(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"fra_secret-1", "pa55word", "pw-2", "k-3", "t-4"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("redacted config holds %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"https://ferry.example.com", "proxy.corp:3128", "/books/a.gnucash", `"concurrency": 2`} {
		if !bytes.Contains(out, []byte(kept)) {
			t.Errorf("redacted config lost %q:\n%s", kept, out)
		}
	}
	if _, err := Redact([]byte("not json")); err == nil {
		t.Error("Redact(not json): nil error")
	}
}

// TestWrite: a bundle over a config, a book and a log holds each file, the
// book's metadata and format and none of its contents nor the credential.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	book := filepath.Join(dir, "book.gnucash")
	if err := os.WriteFile(book, []byte("SQLite format 3\x00 Distinctive Customer Name Ltd"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := config.Config{Coordinator: "https://c.example.com", Credential: "fra_topsecret", Concurrency: 2,
		Bindings: []config.Binding{{ConnectionID: "cn", CompanyID: "co", PlatformKey: "gnucash", Path: book},
			{ConnectionID: "cn2", CompanyID: "co", PlatformKey: "csv", Path: dir}}}
	if err := config.Save(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	lf, err := OpenLogFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(lf, "level=INFO msg=\"connected to the coordinator\"\n")
	lf.Close()
	var buf bytes.Buffer
	checks := func(context.Context) []protocol.Check {
		return []protocol.Check{{Name: protocol.CheckDisk, Status: protocol.CheckPass}}
	}
	if err := Write(t.Context(), &buf, Input{ConfigPath: cfgPath, Version: "1.2.3", Checks: checks, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	files := untar(t, buf.Bytes())
	for _, name := range []string{"README.txt", "versions.json", "config.json", "account.json", "books.json", "diagnostics.json", "logs/agent.log"} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s in the bundle", name)
		}
	}
	if _, ok := files["errors.txt"]; ok {
		t.Errorf("errors.txt: %s", files["errors.txt"])
	}
	for name, data := range files {
		for _, secret := range []string{"fra_topsecret", "Distinctive Customer"} {
			if strings.Contains(data, secret) {
				t.Errorf("%s holds %q", name, secret)
			}
		}
	}
	if b := files["books.json"]; !strings.Contains(b, `"format": "sqlite"`) || !strings.Contains(b, `"format": "directory"`) ||
		!strings.Contains(b, `"name": "book.gnucash"`) {
		t.Errorf("books.json:\n%s", b)
	}
	if v := files["versions.json"]; !strings.Contains(v, `"agent": "1.2.3"`) {
		t.Errorf("versions.json:\n%s", v)
	}
}

// TestLogFileRotates: past MaxLogBytes the log moves to .1 and a new one
// starts, so at most twice MaxLogBytes are kept.
func TestLogFileRotates(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "agent.json")
	lf, err := OpenLogFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	line := strings.Repeat("x", 1023) + "\n"
	for range 3 * MaxLogBytes / len(line) {
		if _, err := io.WriteString(lf, line); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{LogPath(cfgPath), LogPath(cfgPath) + ".1"} {
		st, err := os.Stat(p)
		if err != nil || st.Size() > MaxLogBytes || st.Size() == 0 {
			t.Fatalf("%s: %v; want 1 to %d bytes", p, err, MaxLogBytes)
		}
	}
}

func untar(t *testing.T, archive []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = string(data)
	}
}
