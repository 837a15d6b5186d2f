package sim

import (
	"context"
	"os"
	"path/filepath"
)

// Launch prepares a tool's working folder (dir, or a temp folder removed
// by the returned stop when dir is ""), then starts bin/ferry-coordinator
// on addr with its data and log in that folder. stop stops the coordinator
// and cleans up; call it even when err is not nil.
func Launch(ctx context.Context, dir, bin, addr, key string, args ...string) (c *Coordinator, workdir string, stop func(), err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", stop, err
		}
	} else {
		if dir, err = os.MkdirTemp("", "ferry-sim-"); err != nil {
			return nil, "", stop, err
		}
		undo = append(undo, func() { os.RemoveAll(dir) })
	}
	log, err := os.Create(filepath.Join(dir, "coordinator.log"))
	if err != nil {
		return nil, dir, stop, err
	}
	undo = append(undo, func() { log.Close() })
	exe, err := filepath.Abs(filepath.Join(bin, "ferry-coordinator"))
	if err != nil {
		return nil, dir, stop, err
	}
	c = &Coordinator{Bin: exe, Addr: addr, DataDir: filepath.Join(dir, "data"), Key: key, Log: log, Args: args}
	if err := c.Start(ctx); err != nil {
		return nil, dir, stop, err
	}
	undo = append(undo, c.Stop)
	return c, dir, stop, nil
}
