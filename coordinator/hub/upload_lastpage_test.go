package hub

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// putLastPage sends page n of a dataset with the commit of records
// records and checksum sum (protocol.LastPagePath).
func (e *env) putLastPage(cred, datasetID, lease string, n int, body []byte, records int, sum string) (int, []byte) {
	e.t.Helper()
	return e.upload(protocol.LastPagePath(datasetID, n), cred, lease, body, map[string]string{
		protocol.CommitRecordsHeader: strconv.Itoa(records), protocol.CommitSHA256Header: sum})
}

// claimFetching links an agent whose hello lists FeatureLastPage, claims
// one of its queued datasets and leaves it Fetching; it returns the
// welcome too.
func (e *env) claimFetching() (*protocol.Claimed, string, *protocol.Welcome) {
	e.t.Helper()
	conn, cred := e.linked()
	ws, _, err := e.dial(cred)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ws.Close() })
	a := &agent{t: e.t, ws: ws, cred: cred}
	a.send(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: all(conn), Capacity: 2,
		Features: []string{protocol.FeatureLastPage}}})
	w := a.expect(protocol.TypeWelcome).Welcome
	queued, _, _ := e.st.QueuedDatasets(e.t.Context(), conn)
	return a.claim(queued[0].ID).Claimed, cred, w
}

// TestLastPageOneTransaction: an agent's last page with the commit
// (FeatureLastPage) takes a small dataset from Fetching to Complete in
// one transaction, the agent's Mapping, the commit, Processing and
// Complete each at its own time in the timeline; the agent reported no
// Mapping. Sent again, it is answered as it is. A page too large for one
// transaction goes the long way: Mapping, the page and the commit each a
// transaction, then the process loops. The welcome lists the feature
// only to an agent whose hello does. It fails if the last page and the
// commit go back to transactions of their own.
func TestLastPageOneTransaction(t *testing.T) {
	e := newEnv(t)
	_, w := e.connect(func() string { _, cred := e.linked(); return cred }(), nil)
	if len(w.Features) != 0 {
		t.Errorf("welcome of an agent without the feature lists %v", w.Features)
	}
	pad := make([]byte, 1000)
	var big []string
	for i := 0; len(big)*1100 <= store.MaxFinishBytes; i++ {
		rand.Read(pad)
		big = append(big, fmt.Sprintf(`{"id":"c%05d","companyName":"%x"}`, i, pad))
	}
	tests := []struct {
		name    string
		recs    []string
		answer  dataset.Status
		changes int
	}{
		{"small", []string{`{"id":"a","companyName":"first"}`, `{"id":"b","companyName":"second"}`}, dataset.Complete, 1},
		{"large", big, dataset.Validating, 4}, // Mapping, the commit, Processing, the swap (the page moves nothing)
	}
	for _, tt := range tests {
		c, cred, welcome := e.claimFetching()
		if !slices.Contains(welcome.Features, protocol.FeatureLastPage) {
			t.Fatalf("welcome features %v, want %s", welcome.Features, protocol.FeatureLastPage)
		}
		agentID := welcome.AgentID
		body, raw := page(t, tt.recs...)
		sub := e.st.Feed().Subscribe(e.st.Feed().Head())
		e.clock.Add(time.Second)
		status, out := e.putLastPage(cred, c.DatasetID, c.LeaseID, 1, body, len(tt.recs), checksum(raw))
		var answer struct{ Status dataset.Status }
		if err := json.Unmarshal(out, &answer); status != 200 || err != nil {
			t.Fatalf("%s: last page: %d %s", tt.name, status, out)
		}
		if answer.Status != tt.answer {
			t.Errorf("%s: answered %s, want %s", tt.name, answer.Status, tt.answer)
		}
		if got := transactionsToComplete(t, sub, c.DatasetID); got != tt.changes {
			t.Errorf("%s: %d transactions from the last page to Complete, want %d", tt.name, got, tt.changes)
		}
		d := e.dataset(c.DatasetID)
		checkTimeline(t, tt.name, d, agentID)
		// Sent again (its answer lost): answered, nothing changes.
		status, out = e.putLastPage(cred, c.DatasetID, c.LeaseID, 1, body, len(tt.recs), checksum(raw))
		if status != 200 || !strings.Contains(string(out), string(dataset.Complete)) {
			t.Errorf("%s: sent again: %d %s", tt.name, status, out)
		}
		if n := len(e.dataset(c.DatasetID).Timeline); n != len(d.Timeline) {
			t.Errorf("%s: sent again, the timeline grew to %d", tt.name, n)
		}
	}
}

// TestLastPageOfMany: the last of several pages, sent with the commit
// after the agent reported Mapping and staged the others, is checked
// with them (the checksum covers every page) and ends the dataset in
// one transaction.
func TestLastPageOfMany(t *testing.T) {
	e := newEnv(t)
	_, c, cred := e.claimMapping()
	p1, raw1 := page(t, `{"id":"a","companyName":"first"}`)
	p2, raw2 := page(t, `{"id":"b","companyName":"second"}`)
	if status, out := e.putPage(cred, c.DatasetID, c.LeaseID, 1, p1); status != 200 {
		t.Fatalf("page 1: %d %s", status, out)
	}
	if status, out := e.putLastPage(cred, c.DatasetID, c.LeaseID, 2, p2, 2, checksum(raw2)); status != 409 {
		t.Errorf("a checksum of the last page alone: %d %s, want 409", status, out)
	}
	sub := e.st.Feed().Subscribe(e.st.Feed().Head())
	if status, out := e.putLastPage(cred, c.DatasetID, c.LeaseID, 2, p2, 2, checksum(raw1, raw2)); status != 200 {
		t.Fatalf("last page: %d %s", status, out)
	}
	if got := transactionsToComplete(t, sub, c.DatasetID); got != 1 {
		t.Errorf("%d transactions from the last page to Complete, want 1", got)
	}
}

// TestLastPageRefusals: the last page with the commit refuses, with
// nothing changed, another company's agent, a revoked or unknown
// credential, a lease that does not hold the dataset, a page past 1 of a
// dataset still Fetching, bad commit headers, a malformed, huge or
// bombing body, and counts or a checksum that do not match.
func TestLastPageRefusals(t *testing.T) {
	e := newEnv(t)
	if err := e.st.CreateCompany(t.Context(), store.Company{ID: "co-2", Name: "Other", Created: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	c, cred, _ := e.claimFetching()
	good, raw := page(t, `{"id":"a"}`)
	sum := checksum(raw)
	// Another company's agent, with a valid credential of its own.
	_, code2 := e.connection("co-2")
	other := e.link(code2, "").Credential
	// A revoked agent of this company, which held the dataset's twin.
	_, revokedCred, rw := e.claimFetching()
	if err := e.hub.RevokeAgent(t.Context(), rw.AgentID, "test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cred, lease string
		n                 int
		body              []byte
		records           int
		sum               string
		status            int
		code              protocol.Code
	}{
		{"another company's agent", other, c.LeaseID, 1, good, 1, sum, 404, protocol.CodeNotFound},
		{"revoked credential", revokedCred, c.LeaseID, 1, good, 1, sum, 401, protocol.CodeUnauthorized},
		{"unknown credential", "fra_nope", c.LeaseID, 1, good, 1, sum, 401, protocol.CodeUnauthorized},
		{"stale lease", cred, uuid.NewString(), 1, good, 1, sum, 409, protocol.CodeStaleLease},
		{"page 2 while Fetching", cred, c.LeaseID, 2, good, 2, sum, 409, protocol.CodeTransition},
		{"page zero", cred, c.LeaseID, 0, good, 1, sum, 400, protocol.CodeBadMessage},
		{"no checksum", cred, c.LeaseID, 1, good, 1, "", 400, protocol.CodeBadMessage},
		{"records under the pages", cred, c.LeaseID, 1, good, 0, sum, 400, protocol.CodeBadMessage},
		{"not gzip", cred, c.LeaseID, 1, []byte(`{"id":"a"}`), 1, sum, 400, protocol.CodeBadMessage},
		{"not json", cred, c.LeaseID, 1, mustPage(t, `{{{`), 1, sum, 400, protocol.CodeBadMessage},
		{"huge", cred, c.LeaseID, 1, hugePage(), 1, sum, 413, protocol.CodeTooLarge},
		{"gzip bomb", cred, c.LeaseID, 1, bombBody(), 1, sum, 400, protocol.CodeBadMessage},
		{"wrong count", cred, c.LeaseID, 1, good, 2, sum, 409, protocol.CodeBadMessage},
		{"wrong checksum", cred, c.LeaseID, 1, good, 1, checksum([]byte("x")), 409, protocol.CodeBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.putLastPage(tt.cred, c.DatasetID, tt.lease, tt.n, tt.body, tt.records, tt.sum)
			if status != tt.status || code(t, out) != tt.code {
				t.Errorf("got %d %s, want %d %s", status, out, tt.status, tt.code)
			}
		})
	}
	if d := e.dataset(c.DatasetID); d.Status != dataset.Fetching || len(d.Timeline) != 2 {
		t.Errorf("refused requests moved the dataset: %s, %d transitions", d.Status, len(d.Timeline))
	}
	n := 0
	if err := e.st.Pages(t.Context(), c.DatasetID, func(store.Page) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("refused requests staged %d pages (%v)", n, err)
	}
	// The dataset's own agent still can.
	if status, out := e.putLastPage(cred, c.DatasetID, c.LeaseID, 1, good, 1, sum); status != 200 {
		t.Errorf("after the refusals: %d %s", status, out)
	}
}
