package hub

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestPagesArriveAtOnce: an agent's pages in flight (protocol.PagesInFlight)
// reach the coordinator together and in any order: a page stored before
// the one before it, pages and their duplicates at once, each answered
// 200 and stored once; a last page that overtakes an earlier page is
// refused without committing anything, and committed once that page is
// stored. The cache holds the records in page order.
func TestPagesArriveAtOnce(t *testing.T) {
	e := newEnv(t)
	_, c, cred := e.claimMapping()
	const pages = 6
	bodies, raws := make([][]byte, pages+1), make([][]byte, pages+1)
	for n := 1; n <= pages; n++ {
		bodies[n], raws[n] = page(t, fmt.Sprintf(`{"id":"r%d","companyName":"page %d"}`, n, n))
	}
	put := func(n int) {
		if status, out := e.putPage(cred, c.DatasetID, c.LeaseID, n, bodies[n]); status != 200 {
			t.Errorf("page %d: %d %s", n, status, out)
		}
	}
	put(3) // before 1 and 2
	var wg sync.WaitGroup
	for _, n := range []int{4, 2, 2, 1, 3} { // 2 twice at once, 3 again
		wg.Go(func() { put(n) })
	}
	wg.Wait()
	sum := checksum(raws[1:]...)
	status, out := e.putLastPage(cred, c.DatasetID, c.LeaseID, pages, bodies[pages], pages, sum)
	if status != 409 || !strings.Contains(string(out), "page 5 is missing") {
		t.Fatalf("last page before page 5: %d %s, want 409, page 5 missing", status, out)
	}
	if d := e.dataset(c.DatasetID); d.Status != dataset.Mapping {
		t.Fatalf("dataset %s after a refused last page, want Mapping", d.Status)
	}
	put(5)
	if status, out := e.putLastPage(cred, c.DatasetID, c.LeaseID, pages, bodies[pages], pages, sum); status != 200 {
		t.Fatalf("last page: %d %s", status, out)
	}
	e.waitStatus(c.DatasetID, dataset.Complete)
	var ids []string
	err := e.st.CachedRecords(t.Context(), e.co, string(c.DataType), func(id string, _ []byte) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ids, ","), "r1,r2,r3,r4,r5,r6"; got != want {
		t.Errorf("cache holds %s, want %s", got, want)
	}
}
