package update

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// swapped is an agent of 1.0.0 that swapped in 1.1.0 with a minute to
// become healthy.
func swapped(t *testing.T) (*Updater, Layout, *State) {
	t.Helper()
	r := newReleases(t)
	r.publish(t, "1.1.0", goodBinary)
	u := r.agent(t)
	bin, err := u.Prepare(t.Context(), "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Swap("1.1.0", bin, time.Minute); err != nil {
		t.Fatal(err)
	}
	return u, u.cfg.Layout, u.cfg.State
}

// rolledBack checks the link points at 1.0.0 again, the record is gone,
// and UpdateRolledBack (step health) waits to be sent by the old version.
func rolledBack(t *testing.T, l Layout, st *State, reason string) {
	t.Helper()
	if got := target(t, l); got != l.Binary("1.0.0") {
		t.Errorf("the link points at %s, want the old version back", got)
	}
	if p, _ := st.Pending(); p != nil {
		t.Errorf("the record is still there: %+v", p)
	}
	if u := New(Config{Version: "1.0.0", State: st, Layout: l}); u.Check("1.1.0") == nil || !strings.HasPrefix(u.Check("1.1.0").Error(), "rolledBack") {
		t.Errorf("Check(1.1.0) after its rollback = %v; want it refused, rolledBack", u.Check("1.1.0"))
	}
	qs := wantStatuses(t, st, protocol.UpdateRolledBack)
	if s := qs[0].Status; s.Step != protocol.StepHealth || s.From != "1.0.0" || s.To != "1.1.0" || !strings.Contains(s.Reason, reason) {
		t.Errorf("status %+v; want a rollback from 1.1.0 at step health, reason with %q", s, reason)
	}
}

func TestNeverHealthyIsRolledBack(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		_, l, st := swapped(t)
		p, err := Started(st, l, "1.1.0", now)
		if err != nil || p == nil {
			t.Fatalf("Started = %v, %v", p, err)
		}
		// The new version runs but never connects: at the deadline it
		// swaps itself out.
		u := New(Config{Version: "1.1.0", State: st, Layout: l, Pending: p})
		if err := u.Overdue(); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("Overdue = %v, want ErrRolledBack", err)
		}
		rolledBack(t, l, st, "did not connect")
		// The old version starts again: nothing pending, it runs.
		if p, err := Started(st, l, "1.0.0", now); p != nil || err != nil {
			t.Errorf("the old version's start = %+v, %v; want nothing pending", p, err)
		}
	})
	t.Run("crashLoop", func(t *testing.T) {
		_, l, st := swapped(t)
		for i := 1; i <= MaxStarts; i++ {
			if p, err := Started(st, l, "1.1.0", now); err != nil || p.Starts != i {
				t.Fatalf("start %d: %+v, %v", i, p, err)
			}
		}
		if _, err := Started(st, l, "1.1.0", now); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("start %d = %v, want ErrRolledBack", MaxStarts+1, err)
		}
		rolledBack(t, l, st, "started 3 times")
	})
	t.Run("startedLate", func(t *testing.T) {
		_, l, st := swapped(t)
		if _, err := Started(st, l, "1.1.0", now.Add(time.Minute)); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("a start past the deadline = %v, want ErrRolledBack", err)
		}
		rolledBack(t, l, st, "not healthy by")
	})
	t.Run("supervisor", func(t *testing.T) {
		// The new binary crashes before it reads the record: the
		// supervisor, before each start, puts the old one back once the
		// deadline has passed.
		_, l, st := swapped(t)
		if rolled, err := Supervise(st, l, now.Add(30*time.Second)); rolled || err != nil {
			t.Fatalf("Supervise before the deadline = %v, %v; want nothing done", rolled, err)
		}
		if got := target(t, l); got != l.Binary("1.1.0") {
			t.Fatalf("the link points at %s before the deadline", got)
		}
		if rolled, err := Supervise(st, l, now.Add(time.Minute)); !rolled || err != nil {
			t.Fatalf("Supervise at the deadline = %v, %v; want a rollback", rolled, err)
		}
		rolledBack(t, l, st, "the supervisor put 1.0.0 back")
	})
	t.Run("healthyInTime", func(t *testing.T) {
		_, l, st := swapped(t)
		p, _ := Started(st, l, "1.1.0", now)
		u := New(Config{Version: "1.1.0", State: st, Layout: l, Pending: p})
		if err := u.Connected(); err != nil {
			t.Fatal(err)
		}
		if err := u.Overdue(); err != nil {
			t.Fatalf("Overdue after the new version connected = %v, want nothing done", err)
		}
		if got := target(t, l); got != l.Binary("1.1.0") {
			t.Errorf("the link points at %s, want the new version", got)
		}
		wantStatuses(t, st, protocol.UpdateSucceeded)
	})
}

func TestRenameSwapAndBack(t *testing.T) {
	dir := t.TempDir()
	exe, old, next := filepath.Join(dir, "ferry-agent.exe"), filepath.Join(dir, "versions", "1.0.0", "ferry-agent.exe"),
		filepath.Join(dir, "versions", "1.1.0", "ferry-agent.exe")
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	write(exe, "1.0.0")
	write(next, "1.1.0")
	if err := renameSwap(exe, old, next); err != nil {
		t.Fatal(err)
	}
	if read(exe) != "1.1.0" || read(old) != "1.0.0" {
		t.Fatalf("after the swap: exe %q, old %q", read(exe), read(old))
	}
	if err := renameSwap(exe, next, old); err != nil { // the rollback
		t.Fatal(err)
	}
	if read(exe) != "1.0.0" || read(next) != "1.1.0" {
		t.Fatalf("after the rollback: exe %q, new %q", read(exe), read(next))
	}
	// A new binary that is not there: the running one is moved back.
	if err := renameSwap(exe, old, filepath.Join(dir, "missing.exe")); err == nil || read(exe) != "1.0.0" {
		t.Fatalf("swap to a missing binary = %v, exe %q; want an error and the old one in place", err, read(exe))
	}
}

func TestUnpackRefusesUnsafeArchives(t *testing.T) {
	for name, hdr := range map[string]*tar.Header{
		"escape":   {Name: "top/../../evil", Typeflag: tar.TypeReg, Mode: 0o755},
		"absolute": {Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o755},
		"symlink":  {Name: "top/ferry-agent", Typeflag: tar.TypeSymlink, Linkname: "/bin/sh"},
		"hardlink": {Name: "top/ferry-agent", Typeflag: tar.TypeLink, Linkname: "top/x"},
		"device":   {Name: "top/ferry-agent", Typeflag: tar.TypeChar},
		"oversize": {Name: "top/ferry-agent", Typeflag: tar.TypeReg, Mode: 0o755, Size: maxUnpacked + 1},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			tw := tar.NewWriter(gz)
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			tw.Flush()
			gz.Close()
			src := filepath.Join(dir, "a.tar.gz")
			if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := unpack(src, filepath.Join(dir, "out")); !errors.Is(err, errUnsafe) {
				t.Fatalf("unpack = %v, want errUnsafe", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Fatal("a file landed outside the folder")
			}
		})
	}
	t.Run("zipEscape", func(t *testing.T) {
		dir := t.TempDir()
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("top/../../evil.exe")
		w.Write([]byte("x"))
		zw.Close()
		src := filepath.Join(dir, "a.zip")
		if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := unpack(src, filepath.Join(dir, "out")); !errors.Is(err, errUnsafe) {
			t.Fatalf("unpack = %v, want errUnsafe", err)
		}
	})
	t.Run("zip", func(t *testing.T) {
		dir := t.TempDir()
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: "ferry-agent-1.1.0-windows-amd64/ferry-agent.exe", Method: zip.Deflate}
		h.SetMode(0o755)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte("MZ"))
		zw.Close()
		src := filepath.Join(dir, "a.zip")
		if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := unpack(src, filepath.Join(dir, "out")); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "out", "ferry-agent.exe")); string(b) != "MZ" {
			t.Fatalf("unpacked %q", b)
		}
	})
}

func TestFindLayoutRefusesOtherInstalls(t *testing.T) {
	dir := t.TempDir()
	for _, exe := range []string{"/usr/bin/ferry-agent", filepath.Join(dir, "versions", "1.0.0", "ferry-agent")} {
		if _, err := FindLayout(exe); !errors.Is(err, ErrNoLayout) {
			t.Errorf("FindLayout(%s) = %v, want ErrNoLayout (no link beside the versions)", exe, err)
		}
		if got := ServicePath(exe); got != exe {
			t.Errorf("ServicePath(%s) = %s", exe, got)
		}
	}
	l := install(t, "1.0.0")
	if got := ServicePath(l.Binary("1.0.0")); got != l.Link() {
		t.Errorf("ServicePath = %s, want the link %s", got, l.Link())
	}
}

// TestWindowsLayoutUpdatesTwiceAndRollsBack runs the Windows layout's
// steps (renameRunning, renameSwapIn, Prune, as Swap, Healthy and
// RollBack call them there) on Linux files: 1.0.0 runs from the root;
// 1.1.0 is swapped in and healthy (both kept); 1.2.0 is swapped in and
// rolled back (1.1.0 runs again); 1.3.0 is swapped in and healthy, and
// only 1.1.0 and 1.3.0 are kept.
func TestWindowsLayoutUpdatesTwiceAndRollsBack(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	versions := func() []string {
		es, _ := os.ReadDir(filepath.Join(l.Root, "versions"))
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	write(l.Link(), "1.0.0") // the MSI's executable
	// update unpacks next beside the running one, swaps, and is healthy.
	update := func(from, to string) (old, next string) {
		t.Helper()
		write(l.Binary(to), to)
		write(filepath.Join(l.Dir(to), "README"), to)
		old, next = l.renameRunning(from), l.Binary(to)
		if err := l.renameSwapIn(old, next); err != nil {
			t.Fatal(err)
		}
		if read(l.Link()) != to || read(old) != from {
			t.Fatalf("%s to %s: runs %q, %s holds %q", from, to, read(l.Link()), old, read(old))
		}
		return old, next
	}
	old, next := update("1.0.0", "1.1.0")
	if err := l.Prune(next, old); err != nil { // Healthy
		t.Fatal(err)
	}
	if got := versions(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Fatalf("after 1.1.0 is healthy: versions %v", got)
	}
	old, next = update("1.1.0", "1.2.0")
	if err := l.renameSwapIn(next, old); err != nil { // RollBack: Swap(p.New, p.Old)
		t.Fatal(err)
	}
	if read(l.Link()) != "1.1.0" || read(next) != "1.2.0" {
		t.Fatalf("after the rollback: runs %q, %s holds %q", read(l.Link()), next, read(next))
	}
	old, next = update("1.1.0", "1.3.0")
	if err := l.Prune(next, old); err != nil {
		t.Fatal(err)
	}
	if got := versions(); !slices.Equal(got, []string{"1.1.0", "1.3.0"}) {
		t.Fatalf("after 1.3.0 is healthy: versions %v", got)
	}
}
