package portal

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestConnectionErrorsShown: the company page lists a connection's
// errors, Active and Resolved, to support keys too, with the book's
// message escaped; a connection without errors shows no list.
func TestConnectionErrorsShown(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	b := e.signedIn(supportKey)
	if _, body := b.get("/portal/companies/co"); strings.Contains(body, "conn-errors") {
		t.Fatalf("a connection without errors shows a list:\n%s", body)
	}
	if _, err := e.st.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error {
		c.Status, c.AgentID = store.Linked, "agent-1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ds, err := e.q.Queue(ctx, "co", "invoices", "", "queued by a test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := e.st.Claim(ctx, store.ClaimRequest{DatasetID: ds.ID, AgentID: "agent-1", LeaseID: "l1", Now: now, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, LeaseID: "l1", Actor: "agent-1", To: dataset.FetchError,
		Message: `GnuCash book <b>C:\books\acme.gnucash</b> does not exist`, ErrorCode: store.ConnErrBookMissing, Now: now}); err != nil {
		t.Fatal(err)
	}
	_, body := b.get("/portal/companies/co")
	for _, want := range []string{`id="conn-errors-cn"`, `data-kind="BookMissing" data-status="Active"`, "(404)",
		`&lt;b&gt;C:\books\acme.gnucash&lt;/b&gt; does not exist`} {
		if !strings.Contains(body, want) {
			t.Errorf("company page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>C:") {
		t.Error("the error's message is not escaped")
	}
}
