package badgerstore_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Publishing a dataset leaves its pages and the tables its snapshot
// made out of the process's resident memory. The store maps its value log
// and tables, and Badger reads the newest value-log file whole when it
// opens it: the 16 pages of 1 MiB are resident before the publish and must
// not be after it, and the snapshot's records read back as staged.
func TestPublishLeavesResidentMemory(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	ctx := t.Context()
	mapping(t, s)
	const pages = 16
	// Records of about 1 KiB, as a customer with its addresses and notes
	// takes: 16,000 of them fill the pages (of 60 bytes, 280,000 did, and
	// the race detector's cost is per record).
	notes := strings.Repeat("n", 960)
	want := map[string]string{}
	for n := range pages {
		var b bytes.Buffer
		for i := 0; b.Len() < 1<<20; i++ {
			id := fmt.Sprintf("C%02d%06d", n, i)
			rec := fmt.Sprintf(`{"id":%q,"customerName":"Customer %d of page %d","notes":%q}`, id, i, n, notes)
			want[id] = rec
			b.WriteString(rec + "\n")
		}
		must(t, "PutPage", s.PutPage(ctx, store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: n + 1,
			Records: bytes.Count(b.Bytes(), []byte("\n")), Data: b.Bytes()}))
	}
	_, err := s.CommitUpload(ctx, "agent-1", "ds-1", "lease-1", sec(3))
	must(t, "CommitUpload", err)
	_, err = s.Report(ctx, store.Report{CompanyID: "co-1", DatasetID: "ds-1", Actor: store.ActorCoordinator, To: dataset.Processing, Now: sec(4)})
	must(t, "Report Processing", err)
	must(t, "close", s.Close())
	s = openAt(t, dir)
	before := rssFile(t)
	_, err = s.PublishCache(ctx, "co-1", "ds-1", sec(5))
	must(t, "PublishCache", err)
	if fell := before - rssFile(t); fell < pages<<20/2 {
		t.Errorf("RssFile fell by %d KiB publishing %d MiB of pages, want at least half of them out: they stayed resident", fell>>10, pages)
	}
	got := 0
	must(t, "CachedRecords", s.CachedRecords(ctx, "co-1", string(dataset.Customers), func(id string, rec []byte) error {
		if got++; want[id] != string(rec) {
			t.Errorf("cached %s = %s, want %s", id, rec, want[id])
		}
		return nil
	}))
	if got != len(want) {
		t.Errorf("%d records cached, want %d", got, len(want))
	}
}

// Staging a big dataset's pages leaves them out of the process's resident
// memory: Badger writes them through its mapping of the value log, and 48
// pages of 1 MiB stayed resident, 48 MiB of RssFile, until a publish
// released them.
func TestStagingLeavesResidentMemory(t *testing.T) {
	s := openAt(t, t.TempDir())
	ctx := t.Context()
	mapping(t, s)
	const pages = 48
	rec := fmt.Sprintf(`{"id":"C1","customerName":"Customer","notes":%q}`+"\n", strings.Repeat("n", 1<<20-64))
	before := rssFile(t)
	for n := range pages {
		must(t, "PutPage", s.PutPage(ctx, store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: n + 1,
			Records: 1, Data: []byte(rec)}))
	}
	if grew := rssFile(t) - before; grew > pages<<20/2 {
		t.Errorf("RssFile grew by %d KiB staging %d MiB of pages, want less than half of them: they stayed resident", grew>>10, pages)
	}
}

// mapping is dataset ds-1 of customers on company co-1, claimed by
// agent-1 under lease-1 and in Mapping: ready for its pages.
func mapping(t *testing.T, s store.Backend) {
	ctx := t.Context()
	benchConnections(t, s, "co-1", 1)
	_, err := s.QueueDataset(ctx, store.QueueRequest{ID: "ds-1", CompanyID: "co-1", ConnectionID: "co-1-conn-0", DataType: dataset.Customers, Now: sec(0)})
	must(t, "QueueDataset", err)
	_, err = s.Claim(ctx, store.ClaimRequest{DatasetID: "ds-1", AgentID: "agent-1", LeaseID: "lease-1", Now: sec(1), TTL: time.Hour})
	must(t, "Claim", err)
	_, err = s.Report(ctx, store.Report{CompanyID: "co-1", DatasetID: "ds-1", LeaseID: "lease-1", Actor: "agent-1", To: dataset.Mapping, Now: sec(2)})
	must(t, "Report Mapping", err)
}

// rssFile is the process's file-backed resident memory (RssFile), in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	must(t, "read /proc/self/status", err)
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssFile:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			must(t, "RssFile", err)
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
