package hub

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// claimMapping links, connects, claims the first queued dataset and moves it
// to Mapping.
func (e *env) claimMapping() (*agent, *protocol.Claimed, string) {
	e.t.Helper()
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(e.t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed
	if m := a.report(c, dataset.Mapping, c.LeaseID); m.Type != protocol.TypeAck {
		e.t.Fatalf("report Mapping: %+v", m)
	}
	return a, c, cred
}

func TestUploadToComplete(t *testing.T) {
	e := newEnv(t)
	_, c, cred := e.claimMapping()
	p1, raw1 := page(t, `{"id":"b","companyName":"second"}`, `{"id":"a","companyName":"first"}`)
	p2, raw2 := page(t, `{"id":"c","companyName":"third"}`)
	for n, p := range [][]byte{p1, p2} {
		if status, out := e.putPage(cred, c.DatasetID, c.LeaseID, n+1, p); status != 200 {
			t.Fatalf("page %d: %d %s", n+1, status, out)
		}
	}
	// A page sent again is acknowledged again, not stored twice.
	if status, _ := e.putPage(cred, c.DatasetID, c.LeaseID, 1, p1); status != 200 {
		t.Fatalf("resent page: %d", status)
	}
	status, out := e.commit(cred, c.DatasetID, protocol.CommitRequest{LeaseID: c.LeaseID, Pages: 2, Records: 3, SHA256: checksum(raw1, raw2)})
	if status != 200 {
		t.Fatalf("commit: %d %s", status, out)
	}
	d := e.waitStatus(c.DatasetID, dataset.Complete)
	var tos []dataset.Status
	for _, tr := range d.Timeline {
		tos = append(tos, tr.To)
	}
	want := fmt.Sprint([]dataset.Status{dataset.Queued, dataset.Fetching, dataset.Mapping, dataset.Validating, dataset.Processing, dataset.Complete})
	if fmt.Sprint(tos) != want {
		t.Errorf("timeline %v, want %v", tos, want)
	}
	var ids []string
	err := e.st.CachedRecords(t.Context(), e.co, string(c.DataType), func(id string, rec []byte) error {
		ids = append(ids, id+"="+string(rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != `a={"id":"a","companyName":"first"},b={"id":"b","companyName":"second"},c={"id":"c","companyName":"third"}` {
		t.Errorf("cache holds %v", ids)
	}
	// A resent commit is answered again.
	if status, _ := e.commit(cred, c.DatasetID, protocol.CommitRequest{LeaseID: c.LeaseID, Pages: 2, Records: 3, SHA256: checksum(raw1, raw2)}); status != 200 {
		t.Errorf("resent commit: %d", status)
	}
}

func TestValidationErrorOnDuplicateIDs(t *testing.T) {
	e := newEnv(t)
	_, c, cred := e.claimMapping()
	p1, raw1 := page(t, `{"id":"a","companyName":"Acme"}`)
	p2, raw2 := page(t, `{"id":"a","companyName":"Acme"}`)
	e.putPage(cred, c.DatasetID, c.LeaseID, 1, p1)
	e.putPage(cred, c.DatasetID, c.LeaseID, 2, p2)
	if status, out := e.commit(cred, c.DatasetID, protocol.CommitRequest{LeaseID: c.LeaseID, Pages: 2, Records: 2, SHA256: checksum(raw1, raw2)}); status != 200 {
		t.Fatalf("commit: %d %s", status, out)
	}
	e.waitStatus(c.DatasetID, dataset.ValidationError)
	v, err := e.st.Validation(t.Context(), e.co, c.DatasetID)
	if err != nil || len(v.Errors) != 1 || v.Errors[0].ItemID != "a" || v.Errors[0].RuleID != "record.uniqueId" {
		t.Errorf("validation results %+v (%v)", v, err)
	}
}

func TestUploadRefusals(t *testing.T) {
	e := newEnv(t)
	_, c, cred := e.claimMapping()
	good, raw := page(t, `{"id":"a"}`)
	tests := []struct {
		name        string
		cred, lease string
		n           int
		body        []byte
		status      int
	}{
		{"stale lease", cred, "old-lease", 1, good, 409},
		{"bad credential", "fra_nope", c.LeaseID, 1, good, 401},
		{"page zero", cred, c.LeaseID, 0, good, 400},
		{"not gzip", cred, c.LeaseID, 1, []byte(`{"id":"a"}`), 400},
		{"no id", cred, c.LeaseID, 1, mustPage(t, `{"name":"x"}`), 400},
		{"not json", cred, c.LeaseID, 1, mustPage(t, `{{{`), 400},
		{"gzip bomb", cred, c.LeaseID, 1, bombBody(), 400},
		{"oversized", cred, c.LeaseID, 1, hugePage(), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, out := e.putPage(tt.cred, c.DatasetID, tt.lease, tt.n, tt.body); status != tt.status {
				t.Errorf("got %d %s, want %d", status, out, tt.status)
			}
		})
	}
	// Nothing was stored: a commit of zero pages says so.
	if status, _ := e.commit(cred, c.DatasetID, protocol.CommitRequest{LeaseID: c.LeaseID, Pages: 1, Records: 1, SHA256: checksum(raw)}); status != 409 {
		t.Errorf("commit of a page never stored: %d, want 409", status)
	}
	e.putPage(cred, c.DatasetID, c.LeaseID, 1, good)
	for name, req := range map[string]protocol.CommitRequest{
		"wrong count":    {LeaseID: c.LeaseID, Pages: 1, Records: 2, SHA256: checksum(raw)},
		"wrong checksum": {LeaseID: c.LeaseID, Pages: 1, Records: 1, SHA256: checksum([]byte("x"))},
		"missing page":   {LeaseID: c.LeaseID, Pages: 2, Records: 1, SHA256: checksum(raw)},
		"stale lease":    {LeaseID: "old", Pages: 1, Records: 1, SHA256: checksum(raw)},
	} {
		if status, out := e.commit(cred, c.DatasetID, req); status != 409 {
			t.Errorf("%s: %d %s, want 409", name, status, out)
		}
	}
	if d := e.dataset(c.DatasetID); d.Status != dataset.Mapping {
		t.Errorf("refused commits moved the dataset to %s", d.Status)
	}
}

func TestPageForDatasetNotMapping(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	queued, _, _ := e.st.QueuedDatasets(t.Context(), conn)
	c := a.claim(queued[0].ID).Claimed // Fetching, not Mapping
	status, out := e.putPage(cred, c.DatasetID, c.LeaseID, 1, mustPage(t, `{"id":"a"}`))
	if status != 409 || code(t, out) != protocol.CodeTransition {
		t.Errorf("page while Fetching: %d %s, want 409 transition_refused", status, out)
	}
}
