package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/storetest"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openTest opens a badgerstore.Badger store in a new temporary directory, closed when
// the test ends.
func openTest(t testing.TB) *badgerstore.Badger {
	t.Helper()
	return openAt(t, t.TempDir())
}

func openAt(t testing.TB, dir string) *badgerstore.Badger {
	t.Helper()
	b, err := badgerstore.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Badger keeps the contract of a store backend.
var _ store.Backend = (*badgerstore.Badger)(nil)

func TestBadger(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return openTest(t) })
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// fill makes a company with a linked connection and, on it, a Complete
// customers dataset, a Mapping suppliers dataset held by agent-1 and a
// Queued invoices dataset with validation results.
func fill(t testing.TB, s store.Backend, co string) {
	t.Helper()
	ctx := t.Context()
	conn := "conn-" + co
	must(t, "CreateCompany", s.CreateCompany(ctx, store.Company{ID: co, Name: "Books of " + co, Created: sec(1)}))
	must(t, "CreateConnection", s.CreateConnection(ctx,
		store.Connection{ID: conn, CompanyID: co, PlatformKey: "gnucash", Status: store.Linked, AgentID: "agent-1", Created: sec(2)},
		store.LinkCode{Hash: []byte("hash-" + co), CompanyID: co, ConnectionID: conn, Expires: sec(1000)}))
	queue := func(id string, dt dataset.DataType) {
		_, err := s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: co, ConnectionID: conn, DataType: dt, Now: sec(3)})
		must(t, "QueueDataset "+id, err)
	}
	report := func(id, lease string, to dataset.Status, n int) {
		actor := store.ActorCoordinator
		if lease != "" {
			actor = "agent-1"
		}
		_, err := s.Report(ctx, store.Report{CompanyID: co, DatasetID: id, LeaseID: lease, Actor: actor, To: to, Now: sec(n)})
		must(t, fmt.Sprintf("Report %s %s", id, to), err)
	}
	claim := func(id string) {
		_, err := s.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: "agent-1", LeaseID: "lease-" + id, Now: sec(4), TTL: time.Minute})
		must(t, "Claim "+id, err)
	}
	done, mapping, queued := co+"-done", co+"-mapping", co+"-queued"
	queue(done, dataset.Customers)
	claim(done)
	report(done, "lease-"+done, dataset.Mapping, 5)
	report(done, "", dataset.Validating, 6)
	report(done, "", dataset.Processing, 7)
	report(done, "", dataset.Complete, 8)
	queue(mapping, dataset.Suppliers)
	claim(mapping)
	report(mapping, "lease-"+mapping, dataset.Mapping, 5)
	queue(queued, dataset.Invoices)
	v := store.ValidationResult{Errors: []store.ValidationItem{{RuleID: "r", ItemID: "i", Message: "m", ValidatorName: "v"}}}
	must(t, "SetValidation", s.SetValidation(ctx, co, done, v))
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	b, err := badgerstore.Open(dir, nil)
	must(t, "Open", err)
	fill(t, b, "co-1")
	must(t, "CreateAPIKey", b.CreateAPIKey(t.Context(), store.APIKey{ID: "key-1", Scope: store.ScopeClient, Hash: []byte("h"), Created: sec(1)}))
	must(t, "Close", b.Close())

	s := openAt(t, dir)
	ctx := t.Context()
	c, err := s.Company(ctx, "co-1")
	must(t, "Company after reopen", err)
	if c.Name != "Books of co-1" {
		t.Errorf("company name after reopen: got %q, want %q", c.Name, "Books of co-1")
	}
	conn, err := s.Connection(ctx, "co-1", "conn-co-1")
	must(t, "Connection after reopen", err)
	if !conn.LastSync.Equal(sec(8)) {
		t.Errorf("last sync after reopen: got %v, want %v", conn.LastSync, sec(8))
	}
	list, err := s.Datasets(ctx, "co-1")
	must(t, "Datasets after reopen", err)
	if len(list) != 3 {
		t.Fatalf("datasets after reopen: got %d, want 3", len(list))
	}
	done, err := s.Dataset(ctx, "co-1", "co-1-done")
	must(t, "Dataset after reopen", err)
	if done.Status != dataset.Complete || len(done.Timeline) != 6 || !done.Timeline[5].At.Equal(sec(8)) {
		t.Errorf("completed dataset after reopen: got %s with timeline %+v", done.Status, done.Timeline)
	}
	status, err := s.DataStatus(ctx, "co-1")
	must(t, "DataStatus after reopen", err)
	if ts := status[dataset.Customers]; ts.LatestSuccessful == nil || ts.LatestSuccessful.ID != "co-1-done" {
		t.Errorf("customers status after reopen: got %+v", ts)
	}
	q, _, err := s.QueuedDatasets(ctx, "conn-co-1")
	must(t, "QueuedDatasets after reopen", err)
	if len(q) != 1 || q[0].ID != "co-1-queued" {
		t.Errorf("queued after reopen: got %v, want [co-1-queued]", q)
	}
	held, err := s.RenewLeases(ctx, "agent-1", sec(100))
	must(t, "RenewLeases after reopen", err)
	if len(held) != 1 || held[0].ID != "co-1-mapping" {
		t.Errorf("leases after reopen: got %v, want [co-1-mapping]", held)
	}
	v, err := s.Validation(ctx, "co-1", "co-1-done")
	must(t, "Validation after reopen", err)
	if len(v.Errors) != 1 {
		t.Errorf("validation after reopen: got %+v", v)
	}
	if _, err := s.APIKeyByHash(ctx, []byte("h")); err != nil {
		t.Errorf("APIKeyByHash after reopen: %v", err)
	}
}

// keysMentioning lists the keys of the database whose key or value
// contains s.
func keysMentioning(t testing.TB, b *badgerstore.Badger, s string) []string {
	t.Helper()
	keys, vals, err := b.RawKeys()
	must(t, "scan", err)
	var found []string
	for i, k := range keys {
		if bytes.Contains(k, []byte(s)) || bytes.Contains(vals[i], []byte(s)) {
			found = append(found, string(k))
		}
	}
	return found
}

// TestDeleteCompanyLeavesNothing checks that no key or index entry of a
// deleted company survives, whether it goes in one transaction or many.
func TestDeleteCompanyLeavesNothing(t *testing.T) {
	for _, chunk := range []int{500, 3, 1} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			b := openTest(t)
			b.SetDeleteChunk(chunk)
			fill(t, b, "co-gone")
			fill(t, b, "co-kept")
			fillAgentData(t, b, "co-kept")
			fillAgentData(t, b, "co-gone") // last: its failed dataset's mark stays
			must(t, "DeleteCompany", b.DeleteCompany(t.Context(), "co-gone"))
			if left := keysMentioning(t, b, "co-gone"); len(left) > 0 {
				t.Errorf("keys left of a deleted company: %s", strings.Join(left, ", "))
			}
			if left := keysMentioning(t, b, "hash-co-gone"); len(left) > 0 {
				t.Errorf("link code left of a deleted company: %s", strings.Join(left, ", "))
			}
			// A record's key names its snapshot by a hash: one left would
			// be listed by no snapshot's entry.
			if keys := snapshotKeys(t, b, "co-kept", dataset.Bills); strings.Contains(keys, "?") {
				t.Errorf("cached records of no snapshot after the deletion: %s", keys)
			}
			list, err := b.Datasets(t.Context(), "co-kept")
			must(t, "Datasets of the other company", err)
			if len(list) != 6 {
				t.Errorf("datasets of the other company: got %d, want 6", len(list))
			}
			if got := cachedIDs(t, b, "co-kept", dataset.Bills); got != "[co-kept-r1 co-kept-r2]" {
				t.Errorf("cached records of the other company: got %s", got)
			}
			if got := agentConnections(t, b, "agent-1"); got != "[conn-co-kept]" {
				t.Errorf("agent's connections: got %s, want [conn-co-kept]", got)
			}
		})
	}
}

// TestDeleteCompanyResumes checks that a deletion cut short (the company
// marked, some keys gone) is invisible, and finished by the next call.
func TestDeleteCompanyResumes(t *testing.T) {
	b := openTest(t)
	fill(t, b, "co-1")
	ctx := t.Context()
	must(t, "StartDeleteCompany", b.StartDeleteCompany("co-1", 2))
	if _, err := b.Company(ctx, "co-1"); err == nil {
		t.Errorf("Company during deletion: got no error")
	}
	if err := b.CreateCompany(ctx, store.Company{ID: "co-1"}); err == nil {
		t.Errorf("CreateCompany during deletion: got no error")
	}
	if all, _ := b.Companies(ctx); len(all) != 0 {
		t.Errorf("Companies during deletion: got %v", all)
	}
	must(t, "DeleteCompany resumed", b.DeleteCompany(ctx, "co-1"))
	if left := keysMentioning(t, b, "co-1"); len(left) > 0 {
		t.Errorf("keys left: %s", strings.Join(left, ", "))
	}
}

// TestLinkCodeDeletedWhenWithdrawn checks that a connection the client
// unlinks, or the end user deauthorizes, loses its link code: a code given
// out before cannot undo the withdrawal.
func TestLinkCodeDeletedWhenWithdrawn(t *testing.T) {
	for _, status := range []store.ConnectionStatus{store.Unlinked, store.Deauthorized} {
		t.Run(string(status), func(t *testing.T) {
			b := openTest(t)
			ctx := t.Context()
			must(t, "CreateCompany", b.CreateCompany(ctx, store.Company{ID: "co-1"}))
			must(t, "CreateConnection", b.CreateConnection(ctx,
				store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.PendingAuth},
				store.LinkCode{Hash: []byte("hash-1"), Expires: sec(1000)}))
			if left := keysMentioning(t, b, fmt.Sprintf("%x", "hash-1")); len(left) != 2 {
				t.Fatalf("link code keys: got %v, want the code and its back-reference", left)
			}
			c, err := b.UpdateConnection(ctx, "co-1", "conn-1", func(c *store.Connection) error {
				c.Status = status
				return nil
			})
			must(t, "UpdateConnection", err)
			if left := keysMentioning(t, b, fmt.Sprintf("%x", "hash-1")); len(left) != 0 {
				t.Errorf("link code keys after %s: %v, want none", status, left)
			}
			if !c.LinkCodeExpires.IsZero() {
				t.Errorf("linkCodeExpires after %s: %v, want zero", status, c.LinkCodeExpires)
			}
			if _, err := b.RedeemLinkCode(ctx, []byte("hash-1"), "agent-1", sec(1)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("redeem after %s: %v, want ErrNotFound", status, err)
			}
		})
	}
}

// TestConcurrentWritersConflict runs queue calls and a withdrawal of the
// connection at once: whichever order badgerstore.Badger commits them in, no dataset is
// left Queued on an store.Unlinked connection.
func TestConcurrentWritersConflict(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	must(t, "CreateCompany", b.CreateCompany(ctx, store.Company{ID: "co-1"}))
	must(t, "CreateConnection", b.CreateConnection(ctx,
		store.Connection{ID: "conn-1", CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1"}, store.LinkCode{Hash: []byte("h")}))
	errs := make(chan error, len(dataset.DataTypes)+1)
	for i, dt := range dataset.DataTypes {
		go func() {
			_, err := b.QueueDataset(ctx, store.QueueRequest{ID: fmt.Sprint("ds-", i), CompanyID: "co-1", ConnectionID: "conn-1", DataType: dt, Now: sec(i)})
			errs <- err
		}()
	}
	go func() {
		_, err := b.UpdateConnection(ctx, "co-1", "conn-1", func(c *store.Connection) error {
			c.Status = store.Unlinked
			return nil
		})
		errs <- err
	}()
	for range len(dataset.DataTypes) + 1 {
		if err := <-errs; err != nil && !errors.Is(err, store.ErrUnlinked) {
			t.Errorf("concurrent call: %v", err)
		}
	}
	q, _, err := b.QueuedDatasets(ctx, "conn-1")
	must(t, "QueuedDatasets", err)
	if len(q) != 0 {
		t.Errorf("datasets left Queued on an unlinked connection: %v", q)
	}
}

// TestUpdateKeepsIDs checks that an update function cannot move a company or
// a connection to another id, which would orphan its indexes.
func TestUpdateKeepsIDs(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	fill(t, b, "co-1")
	if _, err := b.UpdateCompany(ctx, "co-1", func(c *store.Company) error { c.ID = "co-2"; return nil }); err == nil {
		t.Errorf("UpdateCompany changing the id: got no error")
	}
	_, err := b.UpdateConnection(ctx, "co-1", "conn-co-1", func(c *store.Connection) error { c.CompanyID = "co-2"; return nil })
	if err == nil {
		t.Errorf("UpdateConnection changing the company: got no error")
	}
	_, err = b.UpdateConnection(ctx, "co-1", "conn-co-1", func(c *store.Connection) error { c.Status = "Gone"; return nil })
	if err == nil {
		t.Errorf("UpdateConnection to an unknown status: got no error")
	}
	if _, err := b.Company(ctx, "co-1"); err != nil {
		t.Errorf("Company after refused updates: %v", err)
	}
}

// A heartbeat from an agent that holds no lease begins no update
// transaction: it would take a writer's slot and a place in what every
// commit checks. One from an agent that holds a lease still renews it.
func TestRenewLeasesWithoutLeaseBeginsNoUpdate(t *testing.T) {
	s := openAt(t, t.TempDir())
	fill(t, s, "co-1")
	ctx := t.Context()
	before := s.BegunUpdates()
	held, err := s.RenewLeases(ctx, "agent-2", sec(100))
	must(t, "RenewLeases(agent without leases)", err)
	if len(held) != 0 {
		t.Errorf("leases of an agent without any: got %v", held)
	}
	if got := s.BegunUpdates() - before; got != 0 {
		t.Errorf("update transactions begun renewing no lease: got %d, want 0", got)
	}
	held, err = s.RenewLeases(ctx, "agent-1", sec(100))
	must(t, "RenewLeases(agent with a lease)", err)
	if len(held) != 1 || held[0].ID != "co-1-mapping" || !held[0].LeaseExpires.Equal(sec(100)) {
		t.Errorf("renewed leases: got %+v, want co-1-mapping until %v", held, sec(100))
	}
	if got := s.BegunUpdates() - before; got != 1 {
		t.Errorf("update transactions begun renewing a lease: got %d, want 1", got)
	}
}
