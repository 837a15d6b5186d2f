package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func testCompanies(f *fixture) {
	got, err := f.s.Companies(f.ctx)
	noErr(f, "Companies on an empty store", err)
	eq(f, "companies on an empty store", len(got), 0)

	// Created out of order: the list follows the creation time.
	want := store.Company{
		ID: "co-b", Name: "B Ltd", Description: "books", Tags: map[string]string{"region": "uk"}, Created: at(20),
	}
	noErr(f, "CreateCompany", f.s.CreateCompany(f.ctx, want))
	f.company("co-c", 30)
	f.company("co-a", 10)

	wantErr(f, "CreateCompany with a taken id", f.s.CreateCompany(f.ctx, store.Company{ID: "co-b", Created: at(40)}), store.ErrExists)
	_, err = f.s.Company(f.ctx, "co-missing")
	wantErr(f, "Company(missing)", err, store.ErrNotFound)

	c, err := f.s.Company(f.ctx, "co-b")
	noErr(f, "Company", err)
	eq(f, "name", c.Name, want.Name)
	eq(f, "description", c.Description, want.Description)
	eq(f, "tag region", c.Tags["region"], "uk")
	eqTime(f, "created", c.Created, want.Created)

	all, err := f.s.Companies(f.ctx)
	noErr(f, "Companies", err)
	var order []string
	for _, c := range all {
		order = append(order, c.ID)
	}
	eq(f, "companies oldest first", fmt.Sprint(order), "[co-a co-b co-c]")
}

func testUpdateCompany(f *fixture) {
	f.company("co-1", 0)
	f.company("co-2", 1)
	c, err := f.s.UpdateCompany(f.ctx, "co-1", func(c *store.Company) error {
		c.Name, c.Tags = "Renamed", map[string]string{"k": "v"}
		return nil
	})
	noErr(f, "UpdateCompany", err)
	eq(f, "returned name", c.Name, "Renamed")
	c, err = f.s.Company(f.ctx, "co-1")
	noErr(f, "Company", err)
	eq(f, "stored name", c.Name, "Renamed")
	eq(f, "stored tag", c.Tags["k"], "v")

	refuse := errors.New("refused by fn")
	_, err = f.s.UpdateCompany(f.ctx, "co-1", func(c *store.Company) error {
		c.Name = "Not stored"
		return refuse
	})
	wantErr(f, "UpdateCompany with fn error", err, refuse)
	c, _ = f.s.Company(f.ctx, "co-1")
	eq(f, "name after an aborted update", c.Name, "Renamed")

	_, err = f.s.UpdateCompany(f.ctx, "co-missing", func(*store.Company) error { return nil })
	wantErr(f, "UpdateCompany(missing)", err, store.ErrNotFound)

	all, err := f.s.Companies(f.ctx)
	noErr(f, "Companies", err)
	if len(all) != 2 || all[0].ID != "co-1" || all[1].ID != "co-2" {
		f.Errorf("companies after update: got %+v, want co-1 then co-2", all)
	}
}

func testConnections(f *fixture) {
	f.company("co-1", 0)
	f.company("co-2", 0)
	want := store.Connection{
		ID: "conn-b", CompanyID: "co-1", PlatformKey: "csv", Status: store.PendingAuth, Created: at(5),
	}
	code := store.LinkCode{Hash: []byte("hash-b"), CompanyID: "co-1", ConnectionID: "conn-b", Expires: at(100)}
	noErr(f, "CreateConnection", f.s.CreateConnection(f.ctx, want, code))
	c := store.Connection{ID: "conn-a", CompanyID: "co-1", PlatformKey: "gnucash", Status: store.PendingAuth, Created: at(1)}
	noErr(f, "CreateConnection", f.s.CreateConnection(f.ctx, c, store.LinkCode{Hash: []byte("hash-a"), CompanyID: "co-1", ConnectionID: "conn-a"}))
	f.connection("co-2", "conn-other", store.PendingAuth, "")

	got, err := f.s.Connection(f.ctx, "co-1", "conn-b")
	noErr(f, "Connection", err)
	eq(f, "platform key", got.PlatformKey, "csv")
	eq(f, "status", got.Status, store.PendingAuth)
	eqTime(f, "link code expires (the code's)", got.LinkCodeExpires, at(100))
	eqTime(f, "created", got.Created, at(5))

	tests := []struct {
		name, company, id string
		want              error
	}{
		{"missing connection", "co-1", "conn-missing", store.ErrNotFound},
		{"missing company", "co-missing", "conn-b", store.ErrNotFound},
		{"another company's connection", "co-2", "conn-b", store.ErrNotFound},
		{"own connection", "co-2", "conn-other", nil},
	}
	for _, tt := range tests {
		_, err := f.s.Connection(f.ctx, tt.company, tt.id)
		wantErr(f, "Connection: "+tt.name, err, tt.want)
	}

	dup := store.Connection{ID: "conn-b", CompanyID: "co-2", PlatformKey: "csv", Status: store.PendingAuth}
	err = f.s.CreateConnection(f.ctx, dup, store.LinkCode{Hash: []byte("hash-dup"), CompanyID: "co-2", ConnectionID: "conn-b"})
	wantErr(f, "CreateConnection with an id taken in another company", err, store.ErrExists)
	orphan := store.Connection{ID: "conn-x", CompanyID: "co-missing", PlatformKey: "csv", Status: store.PendingAuth}
	err = f.s.CreateConnection(f.ctx, orphan, store.LinkCode{Hash: []byte("hash-x"), CompanyID: "co-missing", ConnectionID: "conn-x"})
	wantErr(f, "CreateConnection on a missing company", err, store.ErrNotFound)

	list, err := f.s.Connections(f.ctx, "co-1")
	noErr(f, "Connections", err)
	if len(list) != 2 || list[0].ID != "conn-a" || list[1].ID != "conn-b" {
		f.Errorf("Connections(co-1): got %+v, want conn-a then conn-b", list)
	}
	_, err = f.s.Connections(f.ctx, "co-missing")
	wantErr(f, "Connections(missing company)", err, store.ErrNotFound)
}

func testUpdateConnection(f *fixture) {
	f.company("co-1", 0)
	f.connection("co-1", "conn-1", store.PendingAuth, "")
	c, err := f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.Status, c.AgentID = store.Linked, "agent-1"
		return nil
	})
	noErr(f, "UpdateConnection", err)
	eq(f, "returned status", c.Status, store.Linked)
	c, err = f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	eq(f, "stored status", c.Status, store.Linked)
	eq(f, "stored agent", c.AgentID, "agent-1")

	refuse := errors.New("refused by fn")
	_, err = f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.Status = store.Unlinked
		return refuse
	})
	wantErr(f, "UpdateConnection with fn error", err, refuse)
	c, _ = f.s.Connection(f.ctx, "co-1", "conn-1")
	eq(f, "status after an aborted update", c.Status, store.Linked)

	tests := []struct{ name, company, id string }{
		{"missing connection", "co-1", "conn-missing"},
		{"missing company", "co-missing", "conn-1"},
	}
	for _, tt := range tests {
		_, err := f.s.UpdateConnection(f.ctx, tt.company, tt.id, func(*store.Connection) error { return nil })
		wantErr(f, "UpdateConnection: "+tt.name, err, store.ErrNotFound)
	}
}

// testLinkCodes checks through the only window the interface gives on link
// codes: a code's hash is taken while its connection exists.
func testLinkCodes(f *fixture) {
	f.company("co-1", 0)
	f.company("co-2", 0)
	f.connection("co-1", "conn-1", store.PendingAuth, "")
	f.connection("co-2", "conn-2", store.PendingAuth, "")
	create := func(co, id string, hash []byte) error {
		c := store.Connection{ID: id, CompanyID: co, PlatformKey: "csv", Status: store.PendingAuth, Created: at(1)}
		return f.s.CreateConnection(f.ctx, c, store.LinkCode{Hash: hash, CompanyID: co, ConnectionID: id, Expires: at(99)})
	}
	wantErr(f, "a link code hash taken", create("co-1", "conn-3", linkHash("conn-1")), store.ErrExists)
	if _, err := f.s.Connection(f.ctx, "co-1", "conn-3"); !errors.Is(err, store.ErrNotFound) {
		f.Errorf("a refused CreateConnection left its connection: %v", err)
	}

	noErr(f, "DeleteConnection", f.s.DeleteConnection(f.ctx, "co-1", "conn-1"))
	noErr(f, "reuse of a deleted connection's code", create("co-1", "conn-3", linkHash("conn-1")))
	noErr(f, "DeleteCompany", f.s.DeleteCompany(f.ctx, "co-2"))
	noErr(f, "reuse of a deleted company's code", create("co-1", "conn-4", linkHash("conn-2")))
}

func testDeleteConnection(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	done := f.queue("co-1", "conn-1", "ds-done", dataset.Customers, 1)
	f.complete("co-1", done.ID, "agent-1", 2)
	f.queue("co-1", "conn-1", "ds-queued", dataset.Suppliers, 10)
	f.queue("co-1", "conn-1", "ds-fetching", dataset.Invoices, 11)
	f.claim("ds-fetching", "agent-1", "lease-f", 12)

	noErr(f, "DeleteConnection", f.s.DeleteConnection(f.ctx, "co-1", "conn-1"))
	_, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	wantErr(f, "Connection after delete", err, store.ErrNotFound)
	wantErr(f, "DeleteConnection again", f.s.DeleteConnection(f.ctx, "co-1", "conn-1"), store.ErrNotFound)
	wantErr(f, "DeleteConnection(missing company)", f.s.DeleteConnection(f.ctx, "co-missing", "conn-1"), store.ErrNotFound)

	list, err := f.s.Datasets(f.ctx, "co-1")
	noErr(f, "Datasets after DeleteConnection", err)
	eq(f, "datasets still readable", len(list), 3)
	eq(f, "synced dataset status", f.dataset("co-1", "ds-done").Status, dataset.Complete)
	eq(f, "queued dataset ended", f.dataset("co-1", "ds-queued").Status, dataset.AuthError)
	q, _, err := f.s.QueuedDatasets(f.ctx, "conn-1")
	noErr(f, "QueuedDatasets", err)
	eq(f, "queued datasets of a deleted connection", len(q), 0)

	_, err = f.s.Report(f.ctx, agentReport("co-1", "ds-fetching", "agent-1", "lease-f", dataset.Mapping, 13))
	// The connection is gone, so the dataset is no longer the agent's: its
	// report is answered as on any dataset not its own.
	wantErr(f, "report under a lease of a deleted connection", err, store.ErrNotFound)
	moved, err := f.s.ExpireLeases(f.ctx, at(13))
	noErr(f, "ExpireLeases", err)
	eqIDs(f, "expired after DeleteConnection", moved, "ds-fetching")
	eq(f, "in-flight dataset ended", f.dataset("co-1", "ds-fetching").Status, dataset.AuthError)
}

func testDeleteCompany(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-keep", "conn-keep", "agent-1")
	d := f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 1)
	f.complete("co-1", d.ID, "agent-1", 2)
	noErr(f, "SetValidation", f.s.SetValidation(f.ctx, "co-1", "ds-1", store.ValidationResult{}))
	f.queue("co-1", "conn-1", "ds-2", dataset.Suppliers, 10)
	f.claim("ds-2", "agent-1", "lease-2", 11)
	f.queue("co-1", "conn-1", "ds-3", dataset.Invoices, 12)
	f.queue("co-keep", "conn-keep", "ds-keep", dataset.Invoices, 13)
	f.claim("ds-keep", "agent-1", "lease-keep", 14)

	noErr(f, "DeleteCompany", f.s.DeleteCompany(f.ctx, "co-1"))
	wantErr(f, "DeleteCompany again", f.s.DeleteCompany(f.ctx, "co-1"), store.ErrNotFound)
	checkCompanyGone(f, "co-1")

	held, err := f.s.RenewLeases(f.ctx, "agent-1", at(100))
	noErr(f, "RenewLeases", err)
	eqIDs(f, "leases left to agent-1", held, "ds-keep")
	moved, err := f.s.ExpireLeases(f.ctx, at(1000))
	noErr(f, "ExpireLeases", err)
	eqIDs(f, "expired after DeleteCompany", moved, "ds-keep")

	// Every id is free again, and nothing of the old company comes back.
	f.linked("co-1", "conn-1", "agent-1")
	list, err := f.s.Datasets(f.ctx, "co-1")
	noErr(f, "Datasets of a new company with the old id", err)
	eq(f, "datasets of a new company with the old id", len(list), 0)
	status, err := f.s.DataStatus(f.ctx, "co-1")
	noErr(f, "DataStatus", err)
	eq(f, "data status of a new company with the old id", len(status), 0)
	f.queue("co-1", "conn-1", "ds-3", dataset.Invoices, 20)
}

// checkCompanyGone checks that nothing of company co is visible.
func checkCompanyGone(f *fixture, co string) {
	f.Helper()
	_, err := f.s.Company(f.ctx, co)
	wantErr(f, "Company after delete", err, store.ErrNotFound)
	_, err = f.s.Connections(f.ctx, co)
	wantErr(f, "Connections after delete", err, store.ErrNotFound)
	_, err = f.s.Connection(f.ctx, co, "conn-1")
	wantErr(f, "Connection after delete", err, store.ErrNotFound)
	_, err = f.s.Datasets(f.ctx, co)
	wantErr(f, "Datasets after delete", err, store.ErrNotFound)
	_, err = f.s.Dataset(f.ctx, co, "ds-1")
	wantErr(f, "Dataset after delete", err, store.ErrNotFound)
	_, err = f.s.DataStatus(f.ctx, co)
	wantErr(f, "DataStatus after delete", err, store.ErrNotFound)
	_, err = f.s.Validation(f.ctx, co, "ds-1")
	wantErr(f, "Validation after delete", err, store.ErrNotFound)
	q, _, err := f.s.QueuedDatasets(f.ctx, "conn-1")
	noErr(f, "QueuedDatasets after delete", err)
	eq(f, "queued datasets after delete", len(q), 0)
	_, err = f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: "ds-3", AgentID: "agent-1", LeaseID: "l", Now: at(30), TTL: ttl})
	wantErr(f, "Claim after delete", err, store.ErrNotFound)
	all, err := f.s.Companies(f.ctx)
	noErr(f, "Companies", err)
	for _, c := range all {
		if c.ID == co {
			f.Errorf("Companies lists deleted company %s", co)
		}
	}
}

func testAPIKeys(f *fixture) {
	keys, err := f.s.APIKeys(f.ctx)
	noErr(f, "APIKeys on an empty store", err)
	eq(f, "keys on an empty store", len(keys), 0)

	k2 := store.APIKey{ID: "key-2", Name: "support desk", Scope: store.ScopeSupport, Hash: []byte("h2"), Created: at(2)}
	k1 := store.APIKey{ID: "key-1", Name: "admin", Scope: store.ScopeClient, Hash: []byte("h1"), Created: at(1)}
	noErr(f, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k2))
	noErr(f, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k1))
	dupID := store.APIKey{ID: "key-1", Scope: store.ScopeClient, Hash: []byte("h3"), Created: at(3)}
	wantErr(f, "CreateAPIKey with a taken id", f.s.CreateAPIKey(f.ctx, dupID), store.ErrExists)
	dupHash := store.APIKey{ID: "key-3", Scope: store.ScopeClient, Hash: []byte("h1"), Created: at(3)}
	wantErr(f, "CreateAPIKey with a taken hash", f.s.CreateAPIKey(f.ctx, dupHash), store.ErrExists)

	got, err := f.s.APIKeyByHash(f.ctx, []byte("h2"))
	noErr(f, "APIKeyByHash", err)
	eq(f, "key id", got.ID, "key-2")
	eq(f, "key name", got.Name, "support desk")
	eq(f, "key scope", got.Scope, store.ScopeSupport)
	eq(f, "key hash", string(got.Hash), "h2")
	eqTime(f, "key created", got.Created, at(2))
	_, err = f.s.APIKeyByHash(f.ctx, []byte("h-unknown"))
	wantErr(f, "APIKeyByHash(unknown)", err, store.ErrNotFound)

	keys, err = f.s.APIKeys(f.ctx)
	noErr(f, "APIKeys", err)
	if len(keys) != 2 || keys[0].ID != "key-1" || keys[1].ID != "key-2" || string(keys[0].Hash) != "h1" {
		f.Errorf("APIKeys: got %+v, want key-1 then key-2 with hashes", keys)
	}

	noErr(f, "DeleteAPIKey", f.s.DeleteAPIKey(f.ctx, "key-1"))
	wantErr(f, "DeleteAPIKey again", f.s.DeleteAPIKey(f.ctx, "key-1"), store.ErrNotFound)
	_, err = f.s.APIKeyByHash(f.ctx, []byte("h1"))
	wantErr(f, "APIKeyByHash of a deleted key", err, store.ErrNotFound)
	keys, _ = f.s.APIKeys(f.ctx)
	eq(f, "keys after delete", len(keys), 1)
	noErr(f, "CreateAPIKey with a deleted key's id and hash", f.s.CreateAPIKey(f.ctx, k1))
}

// testSecret checks that a named secret is made once, is the same on every
// call (concurrent first calls included) and differs by name.
func testSecret(f *fixture) {
	const n = 8
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = f.s.Secret(f.ctx, "link-url") })
	}
	wg.Wait()
	for i := range n {
		noErr(f, "Secret", errs[i])
		if len(got[i]) != 32 || !bytes.Equal(got[i], got[0]) {
			f.Errorf("Secret call %d: %x, want the same 32 bytes as the first, %x", i, got[i], got[0])
		}
	}
	again, err := f.s.Secret(f.ctx, "link-url")
	noErr(f, "Secret again", err)
	eq(f, "secret again", bytes.Equal(again, got[0]), true)
	other, err := f.s.Secret(f.ctx, "other")
	noErr(f, "Secret of another name", err)
	eq(f, "another name's secret differs", bytes.Equal(other, got[0]), false)
	_, err = f.s.Secret(f.ctx, "")
	if err == nil {
		f.Errorf("Secret with an empty name: nil error, want a refusal")
	}
}
