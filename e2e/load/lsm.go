package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// lsmCounters are Badger's own counters, as the coordinator serves them
// on its --debug-listen (/debug/vars, expvar): its point reads, the table
// seeks they made (the tables whose bloom filter let the key through, by
// level) and the bytes compaction wrote (by level). A read seeks every
// level that may hold a version of its key, until a compaction merges
// them, so between two compactions each point read costs more.
type lsmCounters struct {
	Gets       int64            `json:"badger_get_num_user"`
	TableSeeks map[string]int64 `json:"badger_get_num_lsm"`
	Compacted  map[string]int64 `json:"badger_write_bytes_compaction"`
}

// lsmUse is what Badger did during a phase: point reads, their table
// seeks, and the bytes compaction wrote.
type lsmUse struct {
	Gets, TableSeeks, CompactedBytes int64
}

// sub is what the counters moved from before to c.
func (c lsmCounters) sub(before lsmCounters) lsmUse {
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	return lsmUse{Gets: c.Gets - before.Gets, TableSeeks: sum(c.TableSeeks) - sum(before.TableSeeks),
		CompactedBytes: sum(c.Compacted) - sum(before.Compacted)}
}

// String is the phase's row: table seeks a point read, and what
// compaction wrote.
func (u lsmUse) String() string {
	if u.Gets <= 0 {
		return "n/a (no point reads counted)"
	}
	return fmt.Sprintf("%d point reads, %.2f table seeks each; compaction wrote %.1f MiB",
		u.Gets, float64(u.TableSeeks)/float64(u.Gets), float64(u.CompactedBytes)/(1<<20))
}

// readLSM reads the coordinator's Badger counters.
func readLSM(ctx context.Context, debugAddr string) (lsmCounters, error) {
	var c lsmCounters
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+debugAddr+"/debug/vars", nil)
	if err != nil {
		return c, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return c, fmt.Errorf("/debug/vars: %s", resp.Status)
	}
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

// sampleLSM reads Badger's counters now; the returned function reads
// them again and returns what moved between the two. On PostgreSQL, or
// when a reading fails (logged), it returns nothing.
func (l *loadRun) sampleLSM(ctx context.Context) func() lsmUse {
	if l.db != nil {
		return func() lsmUse { return lsmUse{} }
	}
	before, err := readLSM(ctx, l.o.debugAddr)
	return func() lsmUse {
		after, aerr := readLSM(ctx, l.o.debugAddr)
		if err != nil || aerr != nil {
			logf("badger counters: %v", errors.Join(err, aerr))
			return lsmUse{}
		}
		return after.sub(before)
	}
}
