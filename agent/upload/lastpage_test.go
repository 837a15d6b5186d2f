package upload

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// lastPage is the fake coordinator's last page with the commit: the page
// stored as put stores it, then the commit of its headers checked as
// commit checks one.
func (c *coordinator) lastPage(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	c.put(rec, r)
	if rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	records, _ := strconv.Atoi(r.Header.Get("X-Ferry-Commit-Records"))
	n, _ := strconv.Atoi(r.PathValue("n"))
	body, _ := json.Marshal(map[string]any{"leaseId": r.Header.Get("X-Ferry-Lease"), "pages": n,
		"records": records, "sha256": r.Header.Get("X-Ferry-Commit-Sha256")})
	commit := r.Clone(r.Context())
	commit.Body = readCloser{bytes.NewReader(body)}
	c.commit(w, commit)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestLastPageWithCommit: with Options.LastPage, the last page goes with
// the commit in one request; Options.Mapping is called once, before the
// first page that does not carry the move to Mapping (none when the only
// page is the last). It fails if the last page and the commit go apart,
// or Mapping is reported when the one request carries it.
func TestLastPageWithCommit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		records  int
		pages    int
		mappings int
	}{
		{"one page", 10, 1, 0},
		{"three pages", 2500, 3, 1},
		{"empty", 0, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newCoordinator(t)
			srv.Config.Handler.(*http.ServeMux).HandleFunc("PUT /agent/v1/datasets/{id}/pages/{n}/commit", c.lastPage)
			client, _ := testClient(t, nil)
			mappings, putsAtMapping := 0, -1
			w := c.writer(t, srv, client, Options{MaxRecords: 1000, LastPage: true, Mapping: func() error {
				mappings++
				putsAtMapping = c.puts
				return nil
			}})
			writeInvoices(t, w, tt.records)
			got, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			if got.Pages != tt.pages || got.Records != tt.records || len(c.commits) != 1 || c.commits[0] != got {
				t.Errorf("commit %+v, coordinator's %+v; want %d pages, %d records", got, c.commits, tt.pages, tt.records)
			}
			// The fake admits the one request twice, as a page and as a commit.
			if lastReq := c.attempts["/agent/v1/datasets/ds-1/pages/"+strconv.Itoa(tt.pages)+"/commit"]; tt.pages > 0 && lastReq != 2 {
				t.Errorf("%d last-page requests, want 1", lastReq/2)
			}
			if mappings != tt.mappings || (mappings > 0 && putsAtMapping != 0) {
				t.Errorf("Mapping called %d times (after %d pages), want %d, before any page", mappings, putsAtMapping, tt.mappings)
			}
		})
	}
}

// TestLastPageUnknownRequest: a coordinator without the last page's
// request (404 without an error body) gets the page and the commit
// apart, after Mapping is reported.
func TestLastPageUnknownRequest(t *testing.T) {
	c, srv := newCoordinator(t)
	client, _ := testClient(t, nil)
	mappings := 0
	w := c.writer(t, srv, client, Options{LastPage: true, Mapping: func() error { mappings++; return nil }})
	writeInvoices(t, w, 10)
	got, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if got.Pages != 1 || len(c.commits) != 1 || c.stores != 1 || mappings != 1 {
		t.Errorf("commit %+v: %d commits, %d pages stored, %d Mapping reports; want 1 each", got, len(c.commits), c.stores, mappings)
	}
}
