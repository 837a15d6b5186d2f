package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// badDatasetIDs are dataset ids no dataset can have, as they appear in a
// URL path.
var badDatasetIDs = []string{"%00", "%FF", "%FF%FE", strings.Repeat("a", 300), "a%2Fb", "%0A", "%7F", "%C2%85"}

// TestBadDatasetIDsInPath sends every bad id to every agent endpoint that
// names a dataset in its path: 404 not_found, never a 5xx.
func TestBadDatasetIDsInPath(t *testing.T) {
	e := newEnv(t)
	_, cred := e.linked()
	page1, _ := page(t, `{"id":"a","companyName":"Acme"}`)
	commit, _ := json.Marshal(protocol.CommitRequest{LeaseID: "l", Pages: 1, Records: 1, SHA256: strings.Repeat("0", 64)})
	routes := []struct {
		method, path string
		body         []byte
	}{
		{"PUT", "%s/pages/1", page1},
		{"POST", "%s/commit", commit},
	}
	for _, rt := range routes {
		for _, id := range badDatasetIDs {
			url := e.url + protocol.DatasetsPath + fmt.Sprintf(rt.path, id)
			req, err := http.NewRequestWithContext(t.Context(), rt.method, url, bytes.NewReader(rt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+cred)
			req.Header.Set(protocol.LeaseHeader, "l")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			what := rt.method + " " + fmt.Sprintf(rt.path, id)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: got status %d, want 404; body %s", what, resp.StatusCode, out)
				continue
			}
			if got := code(t, out); got != protocol.CodeNotFound {
				t.Errorf("%s: got code %s, want %s", what, got, protocol.CodeNotFound)
			}
		}
	}
}

// TestBadDatasetIDsInMessages claims and reports on dataset ids no dataset
// can have: not_found, the answer to a random id, never internal.
func TestBadDatasetIDsInMessages(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	// (An id over 128 bytes is refused as a bad message before it is read.)
	for _, id := range []string{"\x00", "\xff\xfe", "a/b", "a\nb", "\x7f", "\u0085"} {
		got := a.claim(id)
		if got.Type != protocol.TypeError || got.Error.Code != protocol.CodeNotFound {
			t.Errorf("claim %q: got %+v, want error %s", id, got, protocol.CodeNotFound)
		}
		got = a.report(&protocol.Claimed{Offer: protocol.Offer{CompanyID: e.co, DatasetID: id}}, dataset.Mapping, "lease")
		if got.Type != protocol.TypeError || got.Error.Code != protocol.CodeNotFound {
			t.Errorf("report on %q: got %+v, want error %s", id, got, protocol.CodeNotFound)
		}
	}
}

// twoCompanies links one agent on company co-1 and another on company
// co-2, each with its first-link datasets queued.
func twoCompanies(e *env) (mine, theirs *agent, myConn, theirConn string) {
	e.t.Helper()
	myConn, myCred := e.linked()
	if err := e.st.CreateCompany(e.t.Context(), store.Company{ID: "co-2", Name: "Other", Created: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
	theirConn, code := e.connection("co-2")
	theirCred := e.link(code, "").Credential
	mine, _ = e.connect(myCred, all(myConn))
	theirs, _ = e.connect(theirCred, all(theirConn))
	return mine, theirs, myConn, theirConn
}

// TestForeignDatasetLooksMissing has an agent report on, claim, upload to
// and commit datasets of another agent's company, in every state they can
// be in: each answer is exactly the answer to a random id (not_found, the
// same message), never the dataset's status, lease or existence, and the
// datasets do not change.
func TestForeignDatasetLooksMissing(t *testing.T) {
	e := newEnv(t)
	mine, theirs, myConn, theirConn := twoCompanies(e)
	queued, _, err := e.st.QueuedDatasets(t.Context(), theirConn)
	if err != nil || len(queued) < 4 {
		t.Fatalf("queued datasets of the other company: %d, %v", len(queued), err)
	}
	// Their datasets: one Queued, one Fetching, one Mapping, one ended in
	// MapError (terminal).
	fetching := theirs.claim(queued[1].ID).Claimed
	mapping := theirs.claim(queued[2].ID).Claimed
	theirs.report(mapping, dataset.Mapping, mapping.LeaseID)
	failed := theirs.claim(queued[3].ID).Claimed
	theirs.report(failed, dataset.Mapping, failed.LeaseID)
	if m := theirs.report(failed, dataset.MapError, failed.LeaseID); m.Type != protocol.TypeAck {
		t.Fatalf("their MapError report: %+v", m)
	}
	// And a dataset of the agent's own company, on another agent's connection.
	sameConn, sameCode := e.connection(e.co)
	same, _ := e.connect(e.link(sameCode, "").Credential, all(sameConn))
	sameQueued, _, _ := e.st.QueuedDatasets(t.Context(), sameConn)
	foreign := map[string]protocol.Claimed{
		"Queued":                         {Offer: offerOf(queued[0]), LeaseID: "lease-guess"},
		"Fetching":                       *fetching,
		"Mapping":                        *mapping,
		"MapError":                       *failed,
		"own company, other connection,": *same.claim(sameQueued[0].ID).Claimed,
	}
	before := map[string]store.Dataset{}
	for _, c := range foreign {
		d, err := e.st.Dataset(t.Context(), c.CompanyID, c.DatasetID)
		if err != nil {
			t.Fatal(err)
		}
		before[c.DatasetID] = d
	}

	// What a random id gets is what every foreign dataset must get.
	random := protocol.Claimed{Offer: protocol.Offer{CompanyID: "co-2", DatasetID: uuid.NewString()}, LeaseID: "lease-guess"}
	want := answers(e, mine, random, dataset.Fetching)
	if want["report Mapping"] != "error not_found: no such dataset for this agent" {
		t.Fatalf("a random id got %v; the test expects not_found", want)
	}
	for state, c := range foreign {
		// The agent may know the real lease (a leaked one): still not its dataset.
		for _, lease := range []string{c.LeaseID, "lease-guess"} {
			c.LeaseID = lease
			got := answers(e, mine, c, before[c.DatasetID].Status)
			for what, w := range want {
				if got[what] != w {
					t.Errorf("%s dataset, lease %s, %s: got %q, want %q (as for a random id)", state, lease, what, got[what], w)
				}
			}
		}
	}
	// A hello naming their leases resumes none of them and renews none
	// (the clock moves, so a renewal would move their expiry).
	e.clock.Add(time.Second)
	_, welcome := e.connect(mine.cred, all(myConn), protocol.Lease{DatasetID: fetching.DatasetID, LeaseID: fetching.LeaseID},
		protocol.Lease{DatasetID: mapping.DatasetID, LeaseID: mapping.LeaseID})
	if len(welcome.Resumed) != 0 {
		t.Errorf("a hello naming another agent's leases resumed %+v", welcome.Resumed)
	}
	for id, b := range before {
		d := e.dataset2(b.CompanyID, id)
		if !d.LeaseExpires.Equal(b.LeaseExpires) {
			t.Errorf("%s: lease expiry moved from %v to %v", id, b.LeaseExpires, d.LeaseExpires)
		}
		if d.Status != b.Status || len(d.Timeline) != len(b.Timeline) || d.LeaseID != b.LeaseID {
			t.Errorf("%s changed: got %s with %d entries, want %s with %d", id, d.Status, len(d.Timeline), b.Status, len(b.Timeline))
		}
	}
}

// answers sends every message and request an agent can make about a
// dataset and returns what each got, as text.
func answers(e *env, a *agent, c protocol.Claimed, status dataset.Status) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	reply := func(m protocol.Message) string {
		if m.Type == protocol.TypeError {
			return fmt.Sprintf("error %s: %s", m.Error.Code, m.Error.Message)
		}
		return string(m.Type)
	}
	out["claim"] = reply(a.claim(c.DatasetID))
	// Every status an agent may report, and the dataset's own status (a
	// resent report of it would be acknowledged if it were the agent's).
	for _, to := range []dataset.Status{dataset.Mapping, dataset.MapError, dataset.FetchError, dataset.InternalError} {
		out["report "+string(to)] = reply(a.report(&c, to, c.LeaseID))
	}
	out["report its own status"] = reply(a.report(&c, status, c.LeaseID))
	progress := protocol.Message{Type: protocol.TypeReport, ID: uuid.NewString(), Report: &protocol.Report{
		CompanyID: c.CompanyID, DatasetID: c.DatasetID, LeaseID: c.LeaseID, To: status, Progress: 50}}
	out["progress"] = reply(a.reply(progress))
	p, raw := page(e.t, `{"id":"x","companyName":"Mallory"}`)
	status1, body := e.putPage(a.cred, c.DatasetID, c.LeaseID, 1, p)
	out["page"] = fmt.Sprintf("%d %s", status1, bytes.TrimSpace(body))
	status2, body := e.commit(a.cred, c.DatasetID, protocol.CommitRequest{LeaseID: c.LeaseID, Pages: 1, Records: 1, SHA256: checksum(raw)})
	out["commit"] = fmt.Sprintf("%d %s", status2, bytes.TrimSpace(body))
	return out
}
