package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadFigures are the load tool's figures (its -json) that issue #15's
// targets are read from.
type loadFigures struct {
	// Phases are the phases the run finished: a figure of another was
	// not measured, whatever its zero value.
	Phases                                      []string
	Agents                                      int
	SmallDatasets, BigDatasets, DispatchSamples int
	DatasetsPerSec, RecordsPerSec               float64
	BytesPerAgent, BareBytesPerConn             float64
	DispatchP99, DispatchMax                    time.Duration
	Baseline                                    struct {
		WSRoundTripP99, SyncWriteP99         time.Duration
		SyncWritesPerSec, BatchRecordsPerSec float64
	}
}

func readLoadFigures(path string) (loadFigures, error) {
	var f loadFigures
	raw, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(raw, &f)
}

// Fixed limits of issue #15 (the others are measured in the same run).
const (
	maxDispatch = 20 * time.Millisecond
	publishPeak = 300 // MiB
)

// benchMetrics are the metrics of the benchmark line named name in go
// test's output (value by unit), nil when it is not there.
func benchMetrics(out, name string) map[string]float64 {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], name+"-") && f[0] != name {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		return m
	}
	return nil
}

// target is one row of the targets table: a figure, the limit it is
// held against (measured in the same run unless fixed), and the bound on
// their ratio.
type target struct {
	figure, value, limit string
	x, of                float64 // the ratio is x / of; of 0: not measured
	atMost               bool    // the ratio must be at most bound (else at least)
	bound                float64
}

func (t target) row() string {
	ratio, met := "n/a", "not measured"
	if t.of > 0 && t.value != "" {
		r := t.x / t.of
		ratio = fmt.Sprintf("%.2f×", r)
		met = "no"
		if t.atMost && r <= t.bound || !t.atMost && r >= t.bound {
			met = "yes"
		}
	}
	value := t.value
	if value == "" {
		value = "not measured"
	}
	cmp := "≥"
	if t.atMost {
		cmp = "≤"
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s %.1f× | %s |\n", t.figure, value, t.limit, ratio, cmp, t.bound, met)
}

func msOf(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// targets writes issue #15's table: each figure of this run beside its
// limit from the same run, the ratio and whether the target is met. pub
// are BenchmarkPublishCache's metrics (nil: not run).
func targets(l loadFigures, pub map[string]float64) string {
	b := l.Baseline
	in := func(phases ...string) bool {
		for _, p := range phases {
			if !slices.Contains(l.Phases, p) {
				return false
			}
		}
		return true
	}
	var small, mem, p99, pmax, recs, peak string
	if in("datasets") && l.SmallDatasets > 0 {
		small = fmt.Sprintf("%.0f /s", l.DatasetsPerSec)
	}
	if in("restart", "idle") && l.BytesPerAgent > 0 {
		mem = fmt.Sprintf("%.1f KiB", l.BytesPerAgent/1024)
	}
	if in("dispatch") && l.DispatchSamples > 0 {
		p99, pmax = msOf(l.DispatchP99), msOf(l.DispatchMax)
	}
	if in("records") && l.BigDatasets > 0 {
		recs = fmt.Sprintf("%.0f /s", l.RecordsPerSec)
	}
	if pub != nil {
		peak = fmt.Sprintf("%.0f MiB", pub["peak-RSS-MiB"])
	}
	// limit is the limit measured in the baseline phase, or not measured.
	limit := func(format string, args ...any) string {
		if !in("baseline") {
			return "not measured"
		}
		return fmt.Sprintf(format, args...)
	}
	rows := []target{
		{"small datasets through the lifecycle (and ≥ 2,000 /s where the disk allows)", small,
			limit("%.0f synced Badger writes/s, 64 writers", b.SyncWritesPerSec), l.DatasetsPerSec, b.SyncWritesPerSec, false, 0.3},
		{"coordinator RSS per idle agent, after a `kill -9` and their return", mem,
			limit("%.1f KiB, a bare websocket's RSS", l.BareBytesPerConn/1024), l.BytesPerAgent, l.BareBytesPerConn, true, 1.5},
		{"dispatch p99", p99, limit("%s: websocket round trip p99 %s + synced write p99 %s", msOf(b.WSRoundTripP99+b.SyncWriteP99), msOf(b.WSRoundTripP99), msOf(b.SyncWriteP99)),
			float64(l.DispatchP99), float64(b.WSRoundTripP99 + b.SyncWriteP99), true, 2},
		{"dispatch max", pmax, "20 ms (fixed)", float64(l.DispatchMax), float64(maxDispatch), true, 1},
		{"records into the cache", recs, limit("%.0f /s, a Badger WriteBatch of the same records", b.BatchRecordsPerSec), l.RecordsPerSec, b.BatchRecordsPerSec, false, 0.7},
		{"coordinator peak RSS publishing 500,000 journal entries (`BenchmarkPublishCache`)", peak, "300 MiB (fixed)", pub["peak-RSS-MiB"], publishPeak, true, 1},
	}
	var s strings.Builder
	fmt.Fprintf(&s, "| figure (%d agents) | this run | limit, same run | ratio | target | met |\n|---|---|---|---|---|---|\n", l.Agents)
	for _, r := range rows {
		s.WriteString(r.row())
	}
	return s.String()
}
