package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// filesHolding returns the files under dir (every one: value logs, tables,
// write-ahead logs, manifest) whose bytes contain the code s. Badger
// compresses its table blocks with Snappy, which may store a code's first
// or last byte as a copy of the JSON around it (`":"A` seen before), so
// what is looked for is the code less its first and last characters:
// random letters that no earlier bytes repeat, kept as they are.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	s = s[1 : len(s)-1]
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// randomCode is a readable code of the test: 12 random letters and digits,
// so that no 4 of its bytes repeat what is near it in a table, and Badger's
// block compression (Snappy) stores it as it is.
func randomCode(t *testing.T) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func closeStore(t *testing.T, b *badgerstore.Badger) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScrubReadableLinkCodes opens a store written before link codes were
// kept as hashes only: its connection records hold the codes in plain
// text, in Badger's tables. Opening it rewrites them and purges the old
// versions, so no file of the closed store holds a code any more, and the
// connections are otherwise as they were.
func TestScrubReadableLinkCodes(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	legacy, err := badgerstore.OpenWithoutScrub(dir)
	must(t, "OpenWithoutScrub", err)
	must(t, "CreateCompany", legacy.CreateCompany(ctx, store.Company{ID: "co-1", Name: "Co", Created: sec(0)}))
	codes := map[string]string{}
	for i := range 20 {
		id := fmt.Sprintf("conn-%02d", i)
		code := randomCode(t)
		codes[id] = code
		c := store.Connection{ID: id, CompanyID: "co-1", PlatformKey: "csv", Status: store.PendingAuth, Created: sec(i), LinkCodeExpires: sec(1000)}
		must(t, "PutLegacyConnection", legacy.PutLegacyConnection(c, code))
		if i == 10 { // two sessions: the records in two tables of level 0
			closeStore(t, legacy)
			legacy, err = badgerstore.OpenWithoutScrub(dir)
			must(t, "OpenWithoutScrub", err)
		}
	}
	closeStore(t, legacy)
	for id, code := range codes {
		if len(filesHolding(t, dir, code)) == 0 {
			t.Fatalf("the legacy store's files do not hold %s's code %s: the test cannot see a leak", id, code)
		}
	}

	b := openAt(t, dir) // scrubs
	for id := range codes {
		c, err := b.Connection(ctx, "co-1", id)
		must(t, "Connection "+id, err)
		if c.Status != store.PendingAuth || c.PlatformKey != "csv" || !c.LinkCodeExpires.Equal(sec(1000)) {
			t.Errorf("%s after the scrub: %+v, want it unchanged", id, c)
		}
	}
	closeStore(t, b)
	for id, code := range codes {
		if got := filesHolding(t, dir, code); len(got) > 0 {
			t.Errorf("after the scrub, %s's code %s is still in %v", id, code, got)
		}
	}
	b = openAt(t, dir) // a second open finds nothing to do
	if _, err := b.Connection(ctx, "co-1", "conn-00"); err != nil {
		t.Errorf("Connection after a second open: %v", err)
	}
}

// TestScrubResumesAfterACrash: a scrub cut short after rewriting the
// records, before purging the old versions, purges them at the next open.
func TestScrubResumesAfterACrash(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	legacy, err := badgerstore.OpenWithoutScrub(dir)
	must(t, "OpenWithoutScrub", err)
	must(t, "CreateCompany", legacy.CreateCompany(ctx, store.Company{ID: "co-1", Name: "Co", Created: sec(0)}))
	code := randomCode(t)
	c := store.Connection{ID: "conn-1", CompanyID: "co-1", PlatformKey: "csv", Status: store.PendingAuth, Created: sec(0)}
	must(t, "PutLegacyConnection", legacy.PutLegacyConnection(c, code))
	closeStore(t, legacy)

	crashed, err := badgerstore.OpenWithoutScrub(dir)
	must(t, "OpenWithoutScrub", err)
	if n, err := crashed.RewriteReadableCodes(ctx); err != nil || n != 1 {
		t.Fatalf("rewrite: %d %v, want 1 record", n, err)
	}
	closeStore(t, crashed) // before the purge
	if len(filesHolding(t, dir, code)) == 0 {
		t.Fatal("the files do not hold the replaced version: the test cannot see a leak")
	}

	b := openAt(t, dir)
	got, err := b.Connection(ctx, "co-1", "conn-1")
	if err != nil || got.Status != store.PendingAuth {
		t.Errorf("connection after the resumed scrub: %v %+v", err, got)
	}
	closeStore(t, b)
	if files := filesHolding(t, dir, code); len(files) > 0 {
		t.Errorf("after the resumed scrub, the code is still in %v", files)
	}
}

// TestNoReadableLinkCodeStored creates a connection and replaces its code
// as the API and the link page do: no file of the closed store holds either
// code, in any form a person could type.
func TestNoReadableLinkCodeStored(t *testing.T) {
	dir := t.TempDir()
	b, err := badgerstore.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must(t, "CreateCompany", b.CreateCompany(ctx, store.Company{ID: "co-1", Name: "Co", Created: sec(0)}))
	first, firstHash := linkcode.New()
	c := store.Connection{ID: "conn-1", CompanyID: "co-1", PlatformKey: "csv", Status: store.PendingAuth, Created: sec(0)}
	must(t, "CreateConnection", b.CreateConnection(ctx, c, store.LinkCode{Hash: firstHash, Expires: sec(1000)}))
	second, secondHash := linkcode.New()
	_, err = b.ReplaceLinkCode(ctx, "co-1", "conn-1", store.LinkCode{Hash: secondHash, Expires: sec(2000)}, store.PendingAuth)
	must(t, "ReplaceLinkCode", err)
	closeStore(t, b)
	for _, code := range []string{first, second} {
		for _, form := range []string{code, linkcode.Normalize(code), strings.ToLower(code)} {
			if got := filesHolding(t, dir, form); len(got) > 0 {
				t.Errorf("the code %s is in %v", form, got)
			}
		}
	}
}

// TestSecretSurvivesRestart: link URLs given out stay valid across restarts.
func TestSecretSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := openAt(t, dir)
	first, err := b.Secret(t.Context(), "link-url")
	must(t, "Secret", err)
	closeStore(t, b)
	b = openAt(t, dir)
	again, err := b.Secret(t.Context(), "link-url")
	must(t, "Secret after a restart", err)
	if !bytes.Equal(first, again) {
		t.Errorf("secret after a restart: %x, want %x", again, first)
	}
}
