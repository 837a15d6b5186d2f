package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const platform = "linux-amd64"

// Binaries for the archives: shell scripts standing for ferry-agent,
// whose self-test passes or fails, and bytes no machine runs.
var (
	goodBinary   = []byte("#!/bin/sh\n[ \"$1\" = selftest ] || exit 2\nexit 0\n")
	failBinary   = []byte("#!/bin/sh\necho 'selftest: binding c1: GnuCash book /srv/book.gnucash does not exist' >&2\nexit 1\n")
	alienBinary  = append([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}, bytes.Repeat([]byte{0xb7}, 64)...)
	errNoRelease = errors.New("no such release")
)

// releases signs releases and serves them as the coordinator does
// (http.ServeContent: Range answered), recording each request's Range.
type releases struct {
	root, signing ed25519.PrivateKey
	cert          release.Signed
	revocations   *release.Signed
	files         map[string][]byte // "version/name"
	// cut, when above zero, is how many bytes of the next archive response
	// are written before the connection breaks.
	cut    int
	mu     sync.Mutex
	ranges []string
	srv    *httptest.Server
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func newReleases(t *testing.T) *releases {
	r := &releases{files: map[string][]byte{}}
	_, r.root = newKey(t)
	r.newSigningKey(t)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// newSigningKey certifies a new signing key with the root and signs with
// it from now on; it returns the old key's id.
func (r *releases) newSigningKey(t *testing.T) string {
	old := ""
	if r.signing != nil {
		old = release.KeyID(r.signing.Public().(ed25519.PublicKey))
	}
	pub, key := newKey(t)
	cert, err := release.Certify(r.root, pub, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r.signing, r.cert = key, cert
	return old
}

func (r *releases) rootPub() ed25519.PublicKey { return r.root.Public().(ed25519.PublicKey) }

func (r *releases) serve(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer fra_test" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	key := strings.TrimPrefix(req.URL.Path, protocol.ReleasesPath)
	r.mu.Lock()
	b, ok := r.files[key]
	cut := 0
	if strings.HasSuffix(key, ".tar.gz") {
		r.ranges = append(r.ranges, req.Header.Get("Range"))
		cut, r.cut = r.cut, 0
	}
	r.mu.Unlock()
	if !ok {
		http.Error(w, errNoRelease.Error(), http.StatusNotFound)
		return
	}
	var out http.ResponseWriter = w
	if cut > 0 {
		out = &cutWriter{ResponseWriter: w, left: cut}
	}
	http.ServeContent(out, req, filepath.Base(key), now, bytes.NewReader(b))
	if cut > 0 {
		panic(http.ErrAbortHandler) // the connection breaks mid-way
	}
}

// cutWriter writes only the first left bytes of the body.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.ResponseWriter.Write(p)
	c.left -= n
	if err == nil && c.left == 0 {
		c.ResponseWriter.(http.Flusher).Flush()
		return n, errors.New("cut")
	}
	return n, err
}

// publish signs release v whose archive holds bin as ferry-agent (and an
// install.sh), in the folder the release tool writes.
func (r *releases) publish(t *testing.T, v string, bin []byte) release.Archive {
	t.Helper()
	top := "ferry-agent-" + v + "-" + platform
	archive := tarGz(t, map[string][]byte{top + "/ferry-agent": bin, top + "/install.sh": []byte("#!/bin/sh\n")})
	sum := sha256.Sum256(archive)
	a := release.Archive{Name: top + ".tar.gz", Size: int64(len(archive)), SHA256: hex.EncodeToString(sum[:])}
	m := release.Manifest{Version: v, Created: now, Certificate: r.cert, Revocations: r.revocations,
		Platforms: map[string]release.Archive{platform: a}}
	manifest, sig, err := release.Sign(m, r.signing)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[v+"/"+release.ManifestFile], r.files[v+"/"+release.SignatureFile], r.files[v+"/"+a.Name] = manifest, sig, archive
	return a
}

func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// install lays out version v as install.sh does: root/versions/v/ferry-agent
// and the link root/ferry-agent to it.
func install(t *testing.T, v string) Layout {
	t.Helper()
	l := Layout{Root: t.TempDir()}
	if err := os.MkdirAll(l.Dir(v), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Binary(v), goodBinary, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := switchLink(l.Link(), l.Binary(v)); err != nil {
		t.Fatal(err)
	}
	found, err := FindLayout(l.Binary(v))
	if err != nil || found != l {
		t.Fatalf("FindLayout = %v, %v; want %v", found, err, l)
	}
	return l
}

// agent is an agent of version 1.0.0 installed in a layout, updating from
// rs with roots trusted.
func (r *releases) agent(t *testing.T, roots ...ed25519.PublicKey) *Updater {
	t.Helper()
	if len(roots) == 0 {
		roots = []ed25519.PublicKey{r.rootPub()}
	}
	return New(Config{
		Version: "1.0.0", Coordinator: r.srv.URL, Credential: "fra_test", HTTP: r.srv.Client(),
		ConfigPath: filepath.Join(t.TempDir(), "agent.json"), State: &State{Dir: t.TempDir()},
		Layout: install(t, "1.0.0"), Roots: roots, Platform: platform, Now: func() time.Time { return now },
	})
}

// target is where the link points.
func target(t *testing.T, l Layout) string {
	t.Helper()
	got, err := l.Running("")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// refused checks that preparing v failed at step with a reason starting
// with word, and nothing was swapped or unpacked.
func refused(t *testing.T, u *Updater, v, step, word string) {
	t.Helper()
	_, err := u.Prepare(t.Context(), v)
	var f *Failure
	if !errors.As(err, &f) || f.Step != step || !strings.HasPrefix(f.Reason, word) {
		t.Fatalf("Prepare(%s) = %v; want a failure at %s whose reason starts with %q", v, err, step, word)
	}
	if got, want := target(t, u.cfg.Layout), u.cfg.Layout.Binary("1.0.0"); got != want {
		t.Errorf("the link points at %s, want %s still", got, want)
	}
	if step != protocol.StepSelfTest {
		if _, err := os.Stat(u.cfg.Layout.Dir(v)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("version %s was unpacked (%v) though refused", v, err)
		}
	}
}

func TestGoodUpdateSwapsAndBecomesHealthy(t *testing.T) {
	r := newReleases(t)
	r.publish(t, "1.1.0", goodBinary)
	u := r.agent(t)
	l, st := u.cfg.Layout, u.cfg.State
	if err := u.Check("1.1.0"); err != nil {
		t.Fatalf("Check: %v", err)
	}
	bin, err := u.Prepare(t.Context(), "1.1.0")
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if bin != l.Binary("1.1.0") {
		t.Fatalf("new binary %s, want %s", bin, l.Binary("1.1.0"))
	}
	if err := u.Swap("1.1.0", bin, time.Minute); err != nil {
		t.Fatalf("Swap: %v", err)
	}
	if got := target(t, l); got != bin {
		t.Fatalf("the link points at %s, want %s", got, bin)
	}
	if fi, err := os.Lstat(l.Link()); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the service's path is no longer a link: %v %v", fi, err)
	}
	// The new version starts: the start is counted, the deadline kept.
	p, err := Started(st, l, "1.1.0", now.Add(time.Second))
	if err != nil || p == nil || p.Starts != 1 || p.From != "1.0.0" || p.Old != l.Binary("1.0.0") || !p.Deadline.Equal(now.Add(time.Minute)) {
		t.Fatalf("Started = %+v, %v; want the pending swap from 1.0.0 counted once", p, err)
	}
	if err := Healthy(st, l, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.Pending(); p != nil {
		t.Errorf("the record is still there after the new version connected: %+v", p)
	}
	wantStatuses(t, st, protocol.UpdateSucceeded)
	if _, err := os.Stat(filepath.Join(st.Dir, "download")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the download is kept after the update succeeded: %v", err)
	}
	// The old version stays for a rollback by hand; the link stays.
	if _, err := os.Stat(l.Binary("1.0.0")); err != nil {
		t.Errorf("the previous version was removed: %v", err)
	}
}

// wantStatuses checks the statuses kept on disk, by event, and acks them.
func wantStatuses(t *testing.T, st *State, events ...string) []Queued {
	t.Helper()
	qs, err := st.Statuses()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range qs {
		got = append(got, q.Status.Event)
	}
	if strings.Join(got, ",") != strings.Join(events, ",") {
		t.Fatalf("statuses kept %v, want %v", got, events)
	}
	for _, q := range qs {
		if ok, err := st.Acked(q.ID); !ok || err != nil {
			t.Fatalf("Acked(%s) = %v, %v", q.ID, ok, err)
		}
	}
	return qs
}

func TestDownloadResumesWhereItWasCut(t *testing.T) {
	r := newReleases(t)
	a := r.publish(t, "1.1.0", goodBinary)
	u := r.agent(t)
	r.cut = int(a.Size / 2)
	_, err := u.Prepare(t.Context(), "1.1.0")
	var f *Failure
	if !errors.As(err, &f) || f.Step != protocol.StepDownload {
		t.Fatalf("a cut download: %v; want a failure at download", err)
	}
	part := filepath.Join(u.cfg.State.Dir, "download", "1.1.0", a.Name+".part")
	fi, err := os.Stat(part)
	if err != nil || fi.Size() != a.Size/2 {
		t.Fatalf("partial file %v, %v; want the bytes received kept", fi, err)
	}
	kept := fi.Size()
	if _, err := u.Prepare(t.Context(), "1.1.0"); err != nil {
		t.Fatalf("the resumed download: %v", err)
	}
	want := []string{"", "bytes=" + strconv.FormatInt(kept, 10) + "-"}
	if strings.Join(r.ranges, "|") != strings.Join(want, "|") {
		t.Errorf("archive requests' Range %q, want %q", r.ranges, want)
	}
}

func TestRefusedBeforeTheSwap(t *testing.T) {
	t.Run("tampered", func(t *testing.T) {
		r := newReleases(t)
		a := r.publish(t, "1.1.0", goodBinary)
		b := r.files["1.1.0/"+a.Name]
		b[len(b)/2] ^= 0xff
		refused(t, r.agent(t), "1.1.0", protocol.StepVerify, "tampered")
	})
	t.Run("longer", func(t *testing.T) {
		r := newReleases(t)
		a := r.publish(t, "1.1.0", goodBinary)
		r.files["1.1.0/"+a.Name] = append(r.files["1.1.0/"+a.Name], 0)
		refused(t, r.agent(t), "1.1.0", protocol.StepVerify, "tampered")
	})
	t.Run("unknownKey", func(t *testing.T) {
		r := newReleases(t)
		r.publish(t, "1.1.0", goodBinary)
		other, _ := newKey(t)
		refused(t, r.agent(t, other), "1.1.0", protocol.StepVerify, "unknownKey")
	})
	t.Run("downgrade", func(t *testing.T) {
		r := newReleases(t)
		r.publish(t, "0.9.0", goodBinary)
		u := r.agent(t)
		for _, v := range []string{"0.9.0", "1.0.0"} {
			if err := u.Check(v); err == nil || !strings.HasPrefix(err.Error(), "downgrade") {
				t.Errorf("Check(%s) = %v; want a downgrade refused", v, err)
			}
		}
		refused(t, u, "0.9.0", protocol.StepVerify, "downgrade")
		if err := u.Check("1.1"); err == nil || !strings.HasPrefix(err.Error(), "malformed") {
			t.Errorf("Check(1.1) = %v; want malformed", err)
		}
	})
	t.Run("notThisVersion", func(t *testing.T) {
		r := newReleases(t)
		r.publish(t, "1.2.0", goodBinary)
		r.files["1.1.0/release.json"], r.files["1.1.0/release.json.sig"] = r.files["1.2.0/release.json"], r.files["1.2.0/release.json.sig"]
		refused(t, r.agent(t), "1.1.0", protocol.StepVerify, "tampered")
	})
	t.Run("cannotStart", func(t *testing.T) {
		r := newReleases(t)
		r.publish(t, "1.1.0", alienBinary)
		refused(t, r.agent(t), "1.1.0", protocol.StepSelfTest, "")
	})
	t.Run("selfTestFails", func(t *testing.T) {
		r := newReleases(t)
		r.publish(t, "1.1.0", failBinary)
		u := r.agent(t)
		_, err := u.Prepare(t.Context(), "1.1.0")
		var f *Failure
		if !errors.As(err, &f) || f.Step != protocol.StepSelfTest || !strings.Contains(f.Reason, "does not exist") {
			t.Fatalf("Prepare = %v; want a self-test failure with the binary's last words", err)
		}
		if got := target(t, u.cfg.Layout); got != u.cfg.Layout.Binary("1.0.0") {
			t.Errorf("the link points at %s after a failed self-test", got)
		}
	})
}

func TestRevokedKeyStaysRevoked(t *testing.T) {
	r := newReleases(t)
	u := r.agent(t)
	// Release 1.1.0 is signed with the first key A, under list 1, which
	// revokes another key.
	older, list1, err := release.Revoke(r.root, nil, []string{"0000000000000000"}, now)
	if err != nil {
		t.Fatal(err)
	}
	r.revocations = &older
	r.publish(t, "1.1.0", goodBinary)
	keyA, certA := r.signing, r.cert
	// List 2 revokes A; release 1.2.0, signed by a new key B, carries it.
	revoked := r.newSigningKey(t)
	newer, _, err := release.Revoke(r.root, &list1, []string{revoked}, now)
	if err != nil {
		t.Fatal(err)
	}
	r.revocations = &newer
	r.publish(t, "1.2.0", alienBinary) // verified, then its self-test fails
	refused(t, u, "1.2.0", protocol.StepSelfTest, "")
	if kept, err := u.cfg.State.Revocations(); err != nil || kept == nil || kept.Serial != 2 {
		t.Fatalf("revocation list kept %+v, %v; want serial 2", kept, err)
	}
	// 1.1.0, which carries the older list 1, is refused now: an older
	// list does not undo the revocation.
	refused(t, u, "1.1.0", protocol.StepVerify, "revoked")
	r.signing, r.cert, r.revocations = keyA, certA, nil
	r.publish(t, "1.1.0", goodBinary) // signed by A again, with no list
	refused(t, u, "1.1.0", protocol.StepVerify, "revoked")
	if kept, _ := u.cfg.State.Revocations(); kept == nil || kept.Serial != 2 {
		t.Errorf("revocation list %+v after an older one was seen, want serial 2", kept)
	}
}
