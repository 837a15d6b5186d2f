package badgerstore

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// References into staged pages
//
// A snapshot written from its dataset's staged pages (writeSnapshot) does
// not copy the records: a record's value in its chunk (badger_chunks.go)
// is a reference to the record in the staged page that holds it. The
// records are written once, with the pages, and the snapshot's write is
// its ids and references alone. The
// pages of the current snapshot's dataset stay staged: its swap takes the
// dataset's ended-pages mark off and puts one on the dataset it replaces
// (swapSnapshot, finishUpload), whose pages dropEndedPages then deletes.
// A record written otherwise (FinishUpload's one transaction, Import, a
// page without a line index) is its JSON.
//
// A reference is refMark, a byte no JSON starts with, then the page's
// number, the record's start in the page's data and its length, as
// uvarints.
const refMark = 0

// appendRef appends the reference to the record of n bytes at start in
// the data of page page.
func appendRef(dst []byte, page, start, n int) []byte {
	dst = append(dst, refMark)
	dst = binary.AppendUvarint(dst, uint64(page))
	dst = binary.AppendUvarint(dst, uint64(start))
	return binary.AppendUvarint(dst, uint64(n))
}

// parseRef is the page, start and length of reference v.
func parseRef(v []byte) (page, start, n int, err error) {
	var f [3]uint64
	v = v[1:]
	for i := range f {
		x, w := binary.Uvarint(v)
		if w <= 0 || x > maxPageBytes {
			return 0, 0, 0, fmt.Errorf("bad cached record reference")
		}
		f[i], v = x, v[w:]
	}
	return int(f[0]), int(f[1]), int(f[2]), nil
}

// maxPageBytes bounds every number of a reference: a page's data is
// smaller.
const maxPageBytes = 1 << 40

// snapshotValues resolves the values of the snapshot of one dataset, in
// one transaction.
type snapshotValues struct {
	txn    *tx
	co, ds string
	lease  string // the staged pages' lease; "" until the first reference
	// pages are the pages read so far, so that a page is looked up and
	// its header decoded once however many records it holds.
	pages map[int]stagedPage
}

// stagedPage is a page a snapshot refers to: its item, and where its
// data starts in the item's value.
type stagedPage struct {
	item *badger.Item
	data int
}

// record is the record stored as value v: v itself, or the record a
// reference points at, copied out of its page.
func (s *snapshotValues) record(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != refMark {
		return v, nil
	}
	n, start, length, err := parseRef(v)
	if err != nil {
		return nil, err
	}
	page, err := s.page(n)
	if err != nil {
		return nil, err
	}
	var rec []byte
	err = page.item.Value(func(pv []byte) error {
		data := pv[min(page.data, len(pv)):]
		if start > len(data) || length > len(data)-start {
			return fmt.Errorf("cached record out of page %d of dataset %s", n, s.ds)
		}
		rec = append([]byte(nil), data[start:start+length]...)
		return nil
	})
	return rec, err
}

// page looks up page n of the snapshot's dataset, once.
func (s *snapshotValues) page(n int) (stagedPage, error) {
	if p, ok := s.pages[n]; ok {
		return p, nil
	}
	if s.lease == "" {
		d, err := getDataset(s.txn, s.co, s.ds)
		if err != nil {
			return stagedPage{}, err
		}
		if s.lease = stagedLease(d); s.lease == "" {
			return stagedPage{}, fmt.Errorf("cached records of dataset %s: no staged pages", s.ds)
		}
	}
	item, err := s.txn.Get(pageKey(s.co, s.ds, s.lease, n))
	if err != nil {
		return stagedPage{}, fmt.Errorf("cached record in page %d of dataset %s: %w", n, s.ds, err)
	}
	p := stagedPage{item: item}
	err = item.Value(func(pv []byte) error {
		page, _, err := decodePage(s.ds, pv)
		p.data = len(pv) - len(page.Data)
		return err
	})
	if err != nil {
		return stagedPage{}, err
	}
	if s.pages == nil {
		s.pages = map[int]stagedPage{}
	}
	s.pages[n] = p
	return p, nil
}

// stagedLease is the lease d's staged pages are under: its live lease
// while it is uploaded, its committed one after.
func stagedLease(d store.Dataset) string {
	if rules.InFlight(d.Status) {
		return d.LeaseID
	}
	return d.CommittedLease
}

// keepSnapshotPages moves the ended-pages mark in the transaction that
// makes dataset cur's snapshot current in place of dataset old's ("" for
// none): cur's pages stay, for the references into them, and old's go
// (dropEndedPages).
func keepSnapshotPages(txn *tx, co, old, cur string) error {
	if old == cur {
		return nil
	}
	if old != "" {
		if err := txn.Set(endedPagesKey(co, old), nil); err != nil {
			return err
		}
	}
	return txn.Delete(endedPagesKey(co, cur))
}
