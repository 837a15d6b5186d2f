package fleet

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The counts of the last day keep a dataset in a few bytes: 20,000
// datasets of 2,000 agents, their ids and names fresh strings as the store
// decodes them, each moved through three statuses, retain at most 100
// bytes each once collected (a record a dataset with its strings took
// 136 in this test).
func TestHoursBytesPerDataset(t *testing.T) {
	const agents, datasets = 2000, 20000
	types := []dataset.DataType{"customers", "invoices", "journal", "accounts", "vendors"}
	steps := []dataset.Status{dataset.Queued, dataset.Fetching, dataset.Complete}
	// fresh is s in a string of its own, as decoding a record makes it.
	fresh := func(s string) string { return strings.Clone(s) }
	conns := make([]string, agents)
	ids := make([]string, datasets)
	for i := range conns {
		conns[i] = uuid.NewString()
	}
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := newHours()
	for i, c := range conns {
		h.agentOf[keyOf(c).keep()] = h.names.of(fresh(fmt.Sprintf("ag-%05d", i)))
	}
	for _, s := range steps {
		for i, id := range ids {
			h.add(at.Add(time.Duration(i)*time.Second), fresh(id), fresh(conns[i%agents]), dataset.DataType(fresh(string(types[i%len(types)]))), dataset.Status(fresh(string(s))))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	statuses, _, _ := h.sum(at.Add(time.Hour))
	runtime.KeepAlive(h)
	if statuses[dataset.Complete] != datasets {
		t.Fatalf("complete: %d, want %d", statuses[dataset.Complete], datasets)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / datasets
	t.Logf("%.0f bytes retained a dataset", per)
	if per > 100 {
		t.Errorf("%.0f bytes retained a dataset, want at most 100", per)
	}
}
