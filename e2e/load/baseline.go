package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/e2e/sim"
)

// baseline is what the machine can do without Ferry, measured in the same
// run: the limits Ferry's figures are held against.
type baseline struct {
	WSRoundTripP50, WSRoundTripP99 time.Duration // one small message there and back over loopback
	SyncWriteP50, SyncWriteP99     time.Duration // one synced Badger write, alone
	SyncWritesPerSec               float64       // synced Badger writes from 64 writers at once
	BatchRecordsPerSec             float64       // records written by a Badger WriteBatch, the same bytes as the records phase
	BatchMBPerSec                  float64
}

// DispatchLimit is what the dispatch p99 is held against: the offer out
// and the claim back (one websocket round trip) and the claim's synced
// write, each at its p99.
func (b baseline) DispatchLimit() time.Duration { return b.WSRoundTripP99 + b.SyncWriteP99 }

func measureBaseline(dir string, records int) (baseline, error) {
	var b baseline
	var err error
	if b.WSRoundTripP50, b.WSRoundTripP99, err = wsRoundTrip(2000); err != nil {
		return b, fmt.Errorf("websocket round trip: %w", err)
	}
	db, err := openBaseline(dir)
	if err != nil {
		return b, err
	}
	defer func() { db.Close(); os.RemoveAll(dir) }()
	val := make([]byte, 300) // about a dataset record with its timeline
	var lat []time.Duration
	for i := range 300 {
		start := time.Now()
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "one/%06d", i), val) }); err != nil {
			return b, err
		}
		lat = append(lat, time.Since(start))
	}
	b.SyncWriteP50, b.SyncWriteP99, _ = sim.Percentiles(lat)
	const writers, each = 64, 50
	start := time.Now()
	err = sim.Parallel(context.Background(), writers*each, writers, func(i int) error {
		return db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "par/%06d", i), val) })
	})
	if err != nil {
		return b, err
	}
	b.SyncWritesPerSec = float64(writers*each) / time.Since(start).Seconds()

	b.BatchRecordsPerSec, b.BatchMBPerSec, err = writeBatch(db, records)
	return b, err
}

// openBaseline opens a Badger database in dir as the baselines use it.
func openBaseline(dir string) (*badger.DB, error) {
	return badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil).
		WithMemTableSize(8 << 20).WithNumMemtables(2).WithNumCompactors(2).WithBlockCacheSize(64 << 20).WithValueThreshold(64 << 10))
}

// writeBatch writes the records phase's bytes, the same JSON records, in
// one WriteBatch and flushes it, as a cache swap writes them, and
// returns records and MB per second.
func writeBatch(db *badger.DB, records int) (recordsPerSec, mbPerSec float64, err error) {
	start := time.Now()
	wb := db.NewWriteBatch()
	bytes := 0
	for i := range records {
		raw := fmt.Appendf(nil, `{"id":"C%07d","customerName":"Customer %d of 0 Ltd","emailAddress":"accounts%d@example.com","status":"Active","modifiedDate":"2026-01-01T00:00:00Z"}`, i, i, i)
		bytes += len(raw)
		if err := wb.Set(fmt.Appendf(nil, "rec/%07d", i), raw); err != nil {
			return 0, 0, err
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, 0, err
	}
	secs := time.Since(start).Seconds()
	return float64(records) / secs, float64(bytes) / secs / 1e6, nil
}

// measureBatchLimit is writeBatch into a new database in dir, removed
// after.
func measureBatchLimit(dir string, records int) (float64, error) {
	db, err := openBaseline(dir)
	if err != nil {
		return 0, err
	}
	defer func() { db.Close(); os.RemoveAll(dir) }()
	perSec, _, err := writeBatch(db, records)
	return perSec, err
}

// roundTripMessage is what the round trips send: an offer's size.
var roundTripMessage = []byte(`{"type":"offer","id":"8b0f7c52-3a56-4a43-9f0e-1e1f4b0c6f2d","offer":{"datasetId":"4a1c","companyId":"9f2e","connectionId":"77aa","dataType":"customers","attempt":1}}`)

// wsRoundTrip echoes n small text messages over a loopback websocket,
// one at a time, and returns the p50 and p99 of the round trips.
func wsRoundTrip(n int) (p50, p99 time.Duration, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			t, m, err := c.ReadMessage()
			if err != nil || c.WriteMessage(t, m) != nil {
				return
			}
		}
	})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	defer func() { srv.Close(); wg.Wait() }()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String(), nil)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := c.WriteMessage(websocket.TextMessage, roundTripMessage); err != nil {
			return 0, 0, err
		}
		if _, _, err := c.ReadMessage(); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(start))
	}
	p50, p99, _ = sim.Percentiles(lat)
	return p50, p99, nil
}
