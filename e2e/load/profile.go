package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// saveHeap saves the coordinator's heap profile (after a collection) and
// its text form, which ends with the runtime's MemStats, and the
// goroutines, into the working
// folder as heap-NAME.pb.gz and heap-NAME.txt, when -debug-listen is set:
// `go tool pprof -base heap-settled.pb.gz heap-idle.pb.gz` is what the
// agents' return added.
func (l *loadRun) saveHeap(ctx context.Context, name string) error {
	if l.o.debugListen == "" {
		return nil
	}
	for _, f := range []struct{ path, file string }{
		{"heap?gc=1", "heap-" + name + ".pb.gz"},
		{"heap?debug=1", "heap-" + name + ".txt"},
		{"goroutine?debug=1", "goroutine-" + name + ".txt"},
	} {
		if err := fetch(ctx, "http://"+l.o.debugListen+"/debug/pprof/"+f.path, filepath.Join(l.o.dir, f.file)); err != nil {
			return fmt.Errorf("profile %s: %w", f.file, err)
		}
	}
	logf("profile: %s in %s", name, l.o.dir)
	return nil
}

func fetch(ctx context.Context, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
