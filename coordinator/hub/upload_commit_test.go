package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestSmallCommitOneTransaction: a small upload's commit call answers
// once the dataset has ended, its commit, validation results, Processing,
// snapshot and Complete in one transaction: the store's change feed,
// which carries one change a transaction, has one for all of the
// coordinator's steps where it had two (the commit's, then the
// finish's), and the timeline still has every transition, in order. A
// large upload is answered in Validating and goes on through the process
// loops, a transaction a step. It fails if the small commit goes back
// to a transaction of its own.
func TestSmallCommitOneTransaction(t *testing.T) {
	e := newEnv(t)
	many := make([]string, store.MaxFinishRecords+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"id":"c%05d","companyName":"Customer %d"}`, i, i)
	}
	tests := []struct {
		name    string
		recs    []string
		answer  dataset.Status
		changes int
	}{
		{"small", []string{`{"id":"a","companyName":"first"}`}, dataset.Complete, 1},
		{"large", many, dataset.Validating, 3}, // the commit, Processing, the swap
	}
	for _, tt := range tests {
		_, c, cred := e.claimMapping()
		var raws [][]byte
		for n := 0; n == 0 || n*protocol.MaxPageRecords < len(tt.recs); n++ {
			body, raw := page(t, tt.recs[n*protocol.MaxPageRecords:min(len(tt.recs), (n+1)*protocol.MaxPageRecords)]...)
			if status, out := e.putPage(cred, c.DatasetID, c.LeaseID, n+1, body); status != 200 {
				t.Fatalf("%s: page: %d %s", tt.name, status, out)
			}
			raws = append(raws, raw)
		}
		sub := e.st.Feed().Subscribe(e.st.Feed().Head())
		e.clock.Add(time.Second)
		status, out := e.commit(cred, c.DatasetID, protocol.CommitRequest{LeaseID: c.LeaseID, Pages: len(raws), Records: len(tt.recs), SHA256: checksum(raws...)})
		var answer struct{ Status dataset.Status }
		if err := json.Unmarshal(out, &answer); status != 200 || err != nil {
			t.Fatalf("%s: commit: %d %s", tt.name, status, out)
		}
		if answer.Status != tt.answer {
			t.Errorf("%s: commit answered %s, want %s", tt.name, answer.Status, tt.answer)
		}
		if got := transactionsToComplete(t, sub, c.DatasetID); got != tt.changes {
			t.Errorf("%s: %d transactions from the commit to Complete, want %d", tt.name, got, tt.changes)
		}
		checkTimeline(t, tt.name, e.dataset(c.DatasetID), "")
	}
}

// checkTimeline checks that d went the whole way to Complete, each
// transition at or after the one before it; with mapper set, that the
// agent mapper moved it to Mapping.
func checkTimeline(t *testing.T, name string, d store.Dataset, mapper string) {
	t.Helper()
	var path []string
	for i, s := range d.Timeline {
		path = append(path, string(s.To))
		if i > 0 && s.At.Before(d.Timeline[i-1].At) {
			t.Errorf("%s: %s at %v, before %s at %v", name, s.To, s.At, d.Timeline[i-1].To, d.Timeline[i-1].At)
		}
		if mapper != "" && s.To == dataset.Mapping && s.Actor != mapper {
			t.Errorf("%s: Mapping moved by %q, want the agent %q", name, s.Actor, mapper)
		}
	}
	if got, want := strings.Join(path, ","), "Queued,Fetching,Mapping,Validating,Processing,Complete"; got != want {
		t.Errorf("%s: timeline %s, want %s", name, got, want)
	}
}

// transactionsToComplete reads sub until dataset id is Complete and
// returns how many changes (transactions) moved it.
func transactionsToComplete(t *testing.T, sub *store.Subscription, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n := 0
	for {
		cs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s to complete: %v", id, err)
		}
		for _, c := range cs {
			moved, done := false, false
			for _, d := range c.Datasets {
				if d.ID == id {
					moved, done = true, done || d.To == dataset.Complete
				}
			}
			if moved {
				n++
			}
			if done {
				return n
			}
		}
	}
}
