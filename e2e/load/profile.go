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

// saveHeap saves, when -debug-listen is set, what the coordinator holds
// into the working folder: its heap profile after a collection
// (heap-NAME.pb.gz), the same as text ending in the runtime's MemStats
// (heap-NAME.txt), its goroutines (goroutine-NAME.txt) and its mappings,
// for what is resident outside the Go heap (smaps-NAME.txt). `go tool
// pprof -base heap-settled.pb.gz heap-idle.pb.gz` is what the agents'
// return added.
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
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", l.c.Pid()))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.o.dir, "smaps-"+name+".txt"), smaps, 0o644); err != nil {
		return err
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
