package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
)

// Launch prepares a tool's working folder (dir, or a temp folder removed
// by the returned stop when dir is ""), then starts bin/ferry-coordinator
// on addr with its data and log in that folder. stop stops the coordinator
// and cleans up; call it even when err is not nil.
func Launch(ctx context.Context, dir, bin, addr, key string, args ...string) (c *Coordinator, workdir string, stop func(), err error) {
	var u undo
	if dir, err = u.workdir(dir); err != nil {
		return nil, "", u.run, err
	}
	c = &Coordinator{Addr: addr, DataDir: filepath.Join(dir, "data"), Key: key, Args: args}
	if c, err = u.coordinator(ctx, c, bin, filepath.Join(dir, "coordinator.log")); err != nil {
		return nil, dir, u.run, err
	}
	return c, dir, u.run, nil
}

// Cluster is coordinator replicas on one PostgreSQL database, behind
// HAProxy.
type Cluster struct {
	DB       *pgtest.Server
	Replicas []*Coordinator
	LB       *HAProxy
	// API calls the replicas through HAProxy.
	API *Coordinator
}

// LaunchCluster prepares the working folder as Launch does, starts a
// PostgreSQL server of its own (pgtest, shaped by db) and creates a
// database, starts n
// replicas of bin/ferry-coordinator on it (`--store URL --replica-id rI`,
// each on a free loopback port, logging to rI.log), and HAProxy in
// front of them; it returns once HAProxy has every replica in rotation.
// stop stops it all and cleans up; call it even when err is not nil.
func LaunchCluster(ctx context.Context, dir, bin, key string, n int, db pgtest.Options, args ...string) (cl *Cluster, workdir string, stop func(), err error) {
	var u undo
	if dir, err = u.workdir(dir); err != nil {
		return nil, "", u.run, err
	}
	cl = &Cluster{}
	if cl.DB, err = pgtest.Start(db); err != nil {
		return nil, dir, u.run, err
	}
	u.add(cl.DB.Close)
	url, err := cl.DB.CreateDatabase(ctx)
	if err != nil {
		return nil, dir, u.run, err
	}
	listen, err := freeLoopback()
	if err != nil {
		return nil, dir, u.run, err
	}
	backends := make([]string, n)
	for i := range n {
		if backends[i], err = freeLoopback(); err != nil {
			return nil, dir, u.run, err
		}
		a := append([]string{"--store", url, "--replica-id", fmt.Sprintf("r%d", i), "--public-url", "http://" + listen,
			// Every simulated agent comes from 127.0.0.1.
			"--max-connections-per-address", "-1"}, args...)
		a = append(a, ProxyProtocolFrom...)
		c := &Coordinator{Addr: backends[i], DataDir: filepath.Join(dir, fmt.Sprintf("r%d-data", i)), Key: key, Args: a}
		c, err := u.coordinator(ctx, c, bin, filepath.Join(dir, fmt.Sprintf("r%d.log", i)))
		if err != nil {
			return nil, dir, u.run, err
		}
		cl.Replicas = append(cl.Replicas, c)
	}
	lbLog, err := u.create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, dir, u.run, err
	}
	if cl.LB, err = StartHAProxy(ctx, HAProxyOptions{Listen: listen, Backends: backends, CheckInterval: 250 * time.Millisecond, Log: lbLog}); err != nil {
		return nil, dir, u.run, err
	}
	u.add(cl.LB.Close)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cl.LB.WaitStatus(wctx, AllUp); err != nil {
		return nil, dir, u.run, err
	}
	cl.API = &Coordinator{Addr: listen, Key: key}
	return cl, dir, u.run, nil
}

// undo is what a launch has to undo, in reverse order.
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }

func (u *undo) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
}

// workdir makes dir, or a temp folder removed at undo when dir is "".
func (u *undo) workdir(dir string) (string, error) {
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o700)
	}
	dir, err := os.MkdirTemp("", "ferry-sim-")
	if err != nil {
		return "", err
	}
	u.add(func() { os.RemoveAll(dir) })
	return dir, nil
}

func (u *undo) create(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	u.add(func() { f.Close() })
	return f, nil
}

// coordinator starts c, logging to logPath.
func (u *undo) coordinator(ctx context.Context, c *Coordinator, bin, logPath string) (*Coordinator, error) {
	log, err := u.create(logPath)
	if err != nil {
		return nil, err
	}
	if c.Bin, err = filepath.Abs(filepath.Join(bin, "ferry-coordinator")); err != nil {
		return nil, err
	}
	c.Log = log
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	u.add(c.Stop)
	return c, nil
}
