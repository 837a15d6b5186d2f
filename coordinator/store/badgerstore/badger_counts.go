package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The datasets by status are counted in the store:
//
//	nb/<status>   the count of datasets in status, as of the last fold
//	nd/<id>       map[status]delta: one dataset write's change, not folded yet
//	nm            present once the counts are kept (see initCounts)
//
// A dataset write adds a delta key and reads no count: concurrent
// transitions write distinct keys and never conflict over a shared
// counter. DatasetCounts folds the deltas into the bases, in transactions
// of their own, so a read costs the transitions since the last one.

const countsMarker = "nm"

// foldBatch is how many deltas one fold transaction takes.
const foldBatch = 2000

func countBaseKey(s dataset.Status) []byte { return key("nb", string(s)) }

// countChange records that a dataset left status from (none when "") and
// entered status to (none when "").
func countChange(txn *tx, from, to dataset.Status) error {
	delta := rules.CountChange(from, to)
	if delta == nil {
		return nil
	}
	return setJSON(txn, key("nd", uuid.NewString()), delta)
}

func readCountBases(txn *tx) (map[dataset.Status]int, error) {
	counts := make(map[dataset.Status]int, len(dataset.Statuses))
	for _, s := range dataset.Statuses {
		v, err := getString(txn, countBaseKey(s))
		if errors.Is(err, badger.ErrKeyNotFound) {
			counts[s] = 0
			continue
		}
		if err != nil {
			return nil, err
		}
		if counts[s], err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("dataset count %s: %w", s, err)
		}
	}
	return counts, nil
}

func writeCountBases(txn *tx, counts map[dataset.Status]int) error {
	for s, n := range counts {
		if err := txn.Set(countBaseKey(s), []byte(strconv.Itoa(n))); err != nil {
			return err
		}
	}
	return nil
}

func (b *Badger) DatasetCounts(ctx context.Context) (map[dataset.Status]int, error) {
	for {
		var counts map[dataset.Status]int
		more := false
		err := b.update(ctx, func(txn *tx) error {
			var err error
			if counts, err = readCountBases(txn); err != nil {
				return err
			}
			keys, vals, err := scanKeys(txn, prefix("nd"), foldBatch)
			if err != nil || len(keys) == 0 {
				return err
			}
			more = len(keys) == foldBatch
			for i, k := range keys {
				var delta map[dataset.Status]int
				if err := json.Unmarshal(vals[i], &delta); err != nil {
					return fmt.Errorf("decode %s: %w", k, err)
				}
				for s, n := range delta {
					counts[s] += n
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return writeCountBases(txn, counts)
		})
		if err != nil || !more {
			return counts, err
		}
	}
}

// initCounts counts every dataset once, when the store has no counts yet
// (a store written before they were kept): it runs when the store opens,
// before anything else writes.
func (b *Badger) initCounts(ctx context.Context) error {
	return b.update(ctx, func(txn *tx) error {
		if ok, err := exists(txn, key(countsMarker)); err != nil || ok {
			return err
		}
		counts := map[dataset.Status]int{}
		for _, s := range dataset.Statuses {
			counts[s] = 0
		}
		p := prefix("di")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			co, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			d, err := getDataset(txn, string(co), lastSegment(it.Item().Key()))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			counts[d.Status]++
		}
		if err := writeCountBases(txn, counts); err != nil {
			return err
		}
		return txn.Set(key(countsMarker), nil)
	})
}
