package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// saveHeap saves, with -profile, what the coordinator holds into the
// -profile folder: its heap profile after a collection
// (heap-NAME.pb.gz), the same as text ending in the runtime's MemStats
// (heap-NAME.txt), its goroutines (goroutine-NAME.txt) and its mappings,
// for what is resident outside the Go heap (smaps-NAME.txt). `go tool
// pprof -base heap-settled.pb.gz heap-idle.pb.gz` is what the agents'
// return added.
func (l *loadRun) saveHeap(ctx context.Context, name string) error {
	if l.o.profile == "" || l.db != nil {
		return nil
	}
	for _, f := range []struct{ path, file string }{
		{"heap?gc=1", "heap-" + name + ".pb.gz"},
		{"heap?debug=1", "heap-" + name + ".txt"},
		{"goroutine?debug=1", "goroutine-" + name + ".txt"},
	} {
		if err := fetchTo(ctx, "http://"+l.o.debugAddr+"/debug/pprof/"+f.path, filepath.Join(l.o.profile, f.file)); err != nil {
			return fmt.Errorf("profile %s: %w", f.file, err)
		}
	}
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", l.c.Pid()))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.o.profile, "smaps-"+name+".txt"), smaps, 0o644); err != nil {
		return err
	}
	logf("profile: %s in %s", name, l.o.profile)
	return nil
}

// captureProfiles fetches from the coordinator's profiler, in the
// background, a CPU profile of the next span into the -profile folder
// (PHASE.cpu.pprof) and, with trace, an execution trace (scheduler
// latency, GC, system calls: go tool trace -pprof=sched PHASE.trace); the
// returned function waits for them. Without -profile it does nothing.
func (l *loadRun) captureProfiles(ctx context.Context, phase string, span time.Duration, trace bool) func() {
	if l.o.profile == "" || l.db != nil {
		return func() {}
	}
	secs := max(1, int(span.Seconds()))
	var wg sync.WaitGroup
	get := func(path, file string) {
		defer wg.Done()
		url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", l.o.debugAddr, path, secs)
		if err := fetchTo(ctx, url, filepath.Join(l.o.profile, file)); err != nil {
			logf("profile %s: %v", path, err)
		}
	}
	wg.Add(1)
	go get("profile", phase+".cpu.pprof")
	if trace {
		wg.Add(1)
		go get("trace", phase+".trace")
	}
	return wg.Wait
}

// fetchTo saves what url answers into file.
func fetchTo(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
