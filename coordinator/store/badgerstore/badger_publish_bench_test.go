package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/memlimit"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// publishRecords is the size of the publish benchmark: the journal
// entries of the largest book the e2e tests sync (500,000).
const publishRecords = 500_000

// publishPeakTarget is issue #15's bound on the coordinator's peak RSS
// while it publishes publishRecords journal entries.
const publishPeakTarget = 300 << 20

// journalEntry is a journal entry of two lines, about the size of a
// GnuCash book's.
func journalEntry(i int) string {
	return fmt.Sprintf(`{"id":"JE%08d","journalNumber":%d,"postedOn":"2026-01-01T00:00:00Z","description":"Journal entry %d of the book","currency":"GBP",`+
		`"journalLines":[{"accountRef":{"id":"acc-%04d","name":"Sales"},"netAmount":%d.45,"description":"line one of %d"},`+
		`{"accountRef":{"id":"acc-%04d","name":"Bank"},"netAmount":-%d.45,"description":"line two of %d"}],"modifiedDate":"2026-01-02T03:04:05Z"}`,
		i, i, i, i%997, i%5000, i, (i+1)%997, i%5000, i)
}

// BenchmarkPublishCache publishes a dataset of publishRecords journal
// entries staged in pages of 1 MiB, as the coordinator does with its
// memory limit controller running (memlimit.Run, its default), and
// reports the process's peak RSS meanwhile beside the target, the bytes
// it allocated (whose garbage sets how hard the GC runs), and the
// records per second beside a Badger WriteBatch of the same records into
// a store opened with the same options, measured in the same run; and
// how fast the published records are read back (CachedRecords).
func BenchmarkPublishCache(b *testing.B) {
	ctx := b.Context()
	var peak, secs, anon, file, alloc, reads float64
	for i := range b.N {
		s := benchStore(b, func(s store.Backend) { stagePublish(b, s, publishRecords) })
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); memlimit.Run(mctx) }()
		// The setup's garbage (the pages' builder, the setup store's
		// memory) is no part of the publish.
		debug.FreeOSMemory()
		resetPeakRSS(b)
		stop := sampleRSS()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := s.PublishCache(ctx, "co-1", "ds-big", sec(10))
		secs += time.Since(start).Seconds()
		runtime.ReadMemStats(&after)
		alloc = max(alloc, float64(after.TotalAlloc-before.TotalAlloc))
		anonPeak, filePeak := stop()
		peak = max(peak, float64(peakRSS(b)))
		anon, file = max(anon, anonPeak), max(file, filePeak)
		cancel()
		<-done
		must(b, fmt.Sprint("PublishCache, run ", i), err)
		start, n := time.Now(), 0
		must(b, "CachedRecords", s.CachedRecords(ctx, "co-1", string(dataset.JournalEntries), func(string, []byte) error { n++; return nil }))
		reads += time.Since(start).Seconds()
		if n != publishRecords {
			b.Fatalf("cached records: got %d, want %d", n, publishRecords)
		}
		must(b, "close", s.Close())
	}
	limit, readLimit := writeBatchLimit(b, publishRecords)
	rate := float64(b.N*publishRecords) / secs
	b.ReportMetric(peak/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(peak/publishPeakTarget, "peak/target")
	b.ReportMetric(anon/(1<<20), "peak-anon-MiB")
	b.ReportMetric(file/(1<<20), "peak-file-MiB")
	b.ReportMetric(alloc/(1<<20), "alloc-MiB")
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(limit, "writebatch-records/s")
	b.ReportMetric(rate/limit, "records/writebatch")
	b.ReportMetric(float64(b.N*publishRecords)/reads, "read-records/s")
	b.ReportMetric(readLimit, "writebatch-read-records/s")
	b.ReportMetric(float64(b.N*publishRecords)/reads/readLimit, "read/writebatch-read")
}

// stagePublish makes a company, a connection and a dataset of n journal
// entries staged in pages of about 1 MiB with their line index, as the
// hub stages them, taken to Processing.
func stagePublish(b *testing.B, s store.Backend, n int) {
	ctx := context.Background()
	benchConnections(b, s, "co-1", 1)
	conn, agent, lease, id := "co-1-conn-0", "agent-1", "lease-big", "ds-big"
	_, err := s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: "co-1", ConnectionID: conn, DataType: dataset.JournalEntries, Now: sec(0)})
	must(b, "QueueDataset", err)
	_, err = s.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: agent, LeaseID: lease, Now: sec(1), TTL: time.Hour})
	must(b, "Claim", err)
	_, err = s.Report(ctx, store.Report{CompanyID: "co-1", DatasetID: id, LeaseID: lease, Actor: agent, To: dataset.Mapping, Now: sec(2)})
	must(b, "Report Mapping", err)
	var (
		page  strings.Builder
		lines []store.Line // as the hub stages a page: with its line index
	)
	pages, records := 0, 0
	flush := func() {
		pages++
		p := store.Page{AgentID: agent, DatasetID: id, LeaseID: lease, N: pages, Records: records, Data: []byte(page.String()), Lines: lines}
		must(b, "PutPage", s.PutPage(ctx, p))
		page.Reset()
		records, lines = 0, nil
	}
	for i := range n {
		start := page.Len()
		page.WriteString(journalEntry(i))
		lines = append(lines, store.Line{ID: fmt.Sprintf("JE%08d", i), Start: start, End: page.Len()})
		page.WriteByte('\n')
		if records++; page.Len() >= 1<<20 {
			flush()
		}
	}
	if records > 0 {
		flush()
	}
	_, err = s.CommitUpload(ctx, agent, id, lease, sec(3))
	must(b, "CommitUpload", err)
	_, err = s.Report(ctx, store.Report{CompanyID: "co-1", DatasetID: id, Actor: store.ActorCoordinator, To: dataset.Processing, Now: sec(4)})
	must(b, "Report Processing", err)
}

// writeBatchLimit writes n journal entries in one Badger WriteBatch into a
// new database opened with the store's options, reads them back as the
// cache's records were read before they were references (an iterator,
// each value copied), and returns records per second of each.
func writeBatchLimit(b *testing.B, n int) (write, read float64) {
	db := badgerstore.OpenRaw(b, b.TempDir())
	defer db.Close()
	start := time.Now()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for i := range n {
		must(b, "WriteBatch Set", wb.Set(fmt.Appendf(nil, "%s%x", badgerstore.SnapshotPrefix("co-1", "journalEntries", "ds-big"), fmt.Sprintf("JE%08d", i)), []byte(journalEntry(i))))
	}
	must(b, "WriteBatch Flush", wb.Flush())
	write = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	must(b, "read back", db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(badgerstore.SnapshotPrefix("co-1", "journalEntries", "ds-big"))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if _, err := it.Item().ValueCopy(nil); err != nil {
				return err
			}
		}
		return nil
	}))
	return write, float64(n) / time.Since(start).Seconds()
}

// resetPeakRSS resets the process's peak RSS (VmHWM) to its RSS now.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// sampleRSS samples the process's anonymous and file-backed resident
// memory (RssAnon, RssFile) every 20 ms until the returned function is
// called, which returns the peak of each.
func sampleRSS() (stop func() (anon, file float64)) {
	done, out := make(chan struct{}), make(chan [2]float64)
	go func() {
		var peak [2]float64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			raw, _ := os.ReadFile("/proc/self/status")
			for line := range strings.Lines(string(raw)) {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				kb, _ := strconv.ParseFloat(f[1], 64)
				switch f[0] {
				case "RssAnon:":
					peak[0] = max(peak[0], kb*1024)
				case "RssFile:":
					peak[1] = max(peak[1], kb*1024)
				}
			}
			select {
			case <-done:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() (float64, float64) { close(done); p := <-out; return p[0], p[1] }
}

// peakRSS is the process's peak RSS (VmHWM) in bytes.
func peakRSS(b *testing.B) int64 {
	raw, err := os.ReadFile(filepath.Join("/proc", "self", "status"))
	must(b, "read /proc/self/status", err)
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			must(b, "VmHWM", err)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
