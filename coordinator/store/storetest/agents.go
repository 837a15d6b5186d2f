package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// agent creates an agent created at(sec) whose credential hash is
// "cred-"+id.
func (f *fixture) agent(id string, sec int) store.Agent {
	f.Helper()
	a := store.Agent{ID: id, CredentialHash: []byte("cred-" + id), Created: at(sec), Hostname: "host-" + id}
	noErr(f, "CreateAgent("+id+")", f.s.CreateAgent(f.ctx, a))
	return a
}

// connectionAt is connection with its creation time at(sec).
func (f *fixture) connectionAt(co, id string, status store.ConnectionStatus, agent string, sec int) {
	f.Helper()
	c := store.Connection{ID: id, CompanyID: co, PlatformKey: "gnucash", Status: status, Created: at(sec), AgentID: agent}
	code := store.LinkCode{Hash: linkHash(id), Expires: at(7 * 24 * 3600)}
	noErr(f, "CreateConnection("+id+")", f.s.CreateConnection(f.ctx, c, code))
}

// agentConnIDs returns the ids of the connections bound to agent, in order.
func (f *fixture) agentConnIDs(agent string) []string {
	f.Helper()
	cs, err := f.s.AgentConnections(f.ctx, agent)
	noErr(f, "AgentConnections("+agent+")", err)
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// agentConns is agentConnIDs printed.
func (f *fixture) agentConns(agent string) string {
	f.Helper()
	return fmt.Sprint(f.agentConnIDs(agent))
}

// mapping queues dataset id at(sec) and takes it to Mapping under lease.
func (f *fixture) mapping(co, conn, id string, dt dataset.DataType, agent, lease string, sec int) store.Dataset {
	f.Helper()
	f.queue(co, conn, id, dt, sec)
	f.claim(id, agent, lease, sec+1)
	return f.report(agentReport(co, id, agent, lease, dataset.Mapping, sec+2))
}

// putPage stages page n of dataset id, which must succeed.
func (f *fixture) putPage(agent, id, lease string, n int, data []byte) {
	f.Helper()
	p := store.Page{AgentID: agent, DatasetID: id, LeaseID: lease, N: n, Records: bytes.Count(data, []byte("\n")), Data: data}
	noErr(f, fmt.Sprintf("PutPage(%s, %d)", id, n), f.s.PutPage(f.ctx, p))
}

// pages returns the staged pages of dataset id.
func (f *fixture) pages(id string) []store.Page {
	f.Helper()
	var out []store.Page
	noErr(f, "Pages("+id+")", f.s.Pages(f.ctx, id, func(p store.Page) error {
		p.Data = bytes.Clone(p.Data) // valid only until this returns
		out = append(out, p)
		return nil
	}))
	return out
}

// upload stages pages 1, 2, ... of a Mapping dataset and commits them at(sec).
func (f *fixture) upload(id, agent, lease string, sec int, pages ...[]byte) store.Dataset {
	f.Helper()
	for i, p := range pages {
		f.putPage(agent, id, lease, i+1, p)
	}
	d, err := f.s.CommitUpload(f.ctx, agent, id, lease, at(sec))
	noErr(f, "CommitUpload("+id+")", err)
	return d
}

func testAgents(f *fixture) {
	all, err := f.s.Agents(f.ctx)
	noErr(f, "Agents on an empty store", err)
	eq(f, "agents on an empty store", len(all), 0)
	f.agent("agent-2", 2)
	a1 := f.agent("agent-1", 1)
	f.agent("agent-3", 3)
	dupID := store.Agent{ID: "agent-1", CredentialHash: []byte("cred-other"), Created: at(4)}
	wantErr(f, "CreateAgent with a taken id", f.s.CreateAgent(f.ctx, dupID), store.ErrExists)
	dupHash := store.Agent{ID: "agent-4", CredentialHash: []byte("cred-agent-1"), Created: at(4)}
	wantErr(f, "CreateAgent with a taken credential", f.s.CreateAgent(f.ctx, dupHash), store.ErrExists)

	got, err := f.s.Agent(f.ctx, "agent-1")
	noErr(f, "Agent", err)
	eq(f, "agent hostname", got.Hostname, a1.Hostname)
	eq(f, "agent credential", string(got.CredentialHash), "cred-agent-1")
	eqTime(f, "agent created", got.Created, at(1))
	_, err = f.s.Agent(f.ctx, "agent-missing")
	wantErr(f, "Agent(missing)", err, store.ErrNotFound)
	got, err = f.s.AgentByCredential(f.ctx, []byte("cred-agent-2"))
	noErr(f, "AgentByCredential", err)
	eq(f, "agent by credential", got.ID, "agent-2")
	_, err = f.s.AgentByCredential(f.ctx, []byte("cred-unknown"))
	wantErr(f, "AgentByCredential(unknown)", err, store.ErrNotFound)
	all, err = f.s.Agents(f.ctx)
	noErr(f, "Agents", err)
	if len(all) != 3 || all[0].ID != "agent-1" || all[1].ID != "agent-2" || all[2].ID != "agent-3" {
		f.Errorf("Agents: got %+v, want agent-1, agent-2, agent-3", all)
	}

	up, err := f.s.UpdateAgent(f.ctx, "agent-1", func(a *store.Agent) error {
		a.LastSeen, a.Version, a.CredentialHash = at(50), "1.2.3", []byte("cred-new")
		return nil
	})
	noErr(f, "UpdateAgent", err)
	eq(f, "updated version", up.Version, "1.2.3")
	got, _ = f.s.Agent(f.ctx, "agent-1")
	eqTime(f, "stored last seen", got.LastSeen, at(50))
	eq(f, "stored hostname kept", got.Hostname, a1.Hostname)
	_, err = f.s.AgentByCredential(f.ctx, []byte("cred-agent-1"))
	wantErr(f, "AgentByCredential(replaced credential)", err, store.ErrNotFound)
	got, err = f.s.AgentByCredential(f.ctx, []byte("cred-new"))
	noErr(f, "AgentByCredential(new credential)", err)
	eq(f, "agent by new credential", got.ID, "agent-1")

	// A revoked agent is kept, and still found by its credential: the
	// caller refuses it knowing whose it is.
	_, err = f.s.UpdateAgent(f.ctx, "agent-2", func(a *store.Agent) error { a.Revoked = at(60); return nil })
	noErr(f, "UpdateAgent(revoke)", err)
	got, err = f.s.AgentByCredential(f.ctx, []byte("cred-agent-2"))
	noErr(f, "AgentByCredential(revoked)", err)
	eqTime(f, "stored revoked", got.Revoked, at(60))

	refusals := []struct {
		name, id string
		fn       func(*store.Agent) error
		want     error
	}{
		{"missing agent", "agent-missing", func(*store.Agent) error { return nil }, store.ErrNotFound},
		{"a taken credential", "agent-1", func(a *store.Agent) error { a.CredentialHash = []byte("cred-agent-2"); return nil }, store.ErrExists},
		{"an error from fn", "agent-1", func(a *store.Agent) error { a.Version = "9"; return store.ErrTransition }, store.ErrTransition},
	}
	for _, tt := range refusals {
		_, err := f.s.UpdateAgent(f.ctx, tt.id, tt.fn)
		wantErr(f, "UpdateAgent, "+tt.name, err, tt.want)
	}
	_, err = f.s.UpdateAgent(f.ctx, "agent-1", func(a *store.Agent) error { a.ID = "agent-9"; return nil })
	if err == nil {
		f.Errorf("UpdateAgent changing the id: got no error")
	}
	got, _ = f.s.Agent(f.ctx, "agent-1")
	eq(f, "version after refused updates", got.Version, "1.2.3")
	eq(f, "credential after refused updates", string(got.CredentialHash), "cred-new")

	// The update policy: auto until set, kept, and nothing else refused.
	eq(f, "default update policy", got.Policy(), store.UpdateAuto)
	_, err = f.s.UpdateAgent(f.ctx, "agent-1", func(a *store.Agent) error { a.UpdatePolicy = store.UpdatePinned; return nil })
	noErr(f, "UpdateAgent(pinned)", err)
	got, _ = f.s.Agent(f.ctx, "agent-1")
	eq(f, "stored update policy", got.Policy(), store.UpdatePinned)
	if _, err = f.s.UpdateAgent(f.ctx, "agent-1", func(a *store.Agent) error { a.UpdatePolicy = "sometimes"; return nil }); err == nil {
		f.Errorf("UpdateAgent with update policy \"sometimes\": got no error")
	}
	if err := f.s.CreateAgent(f.ctx, store.Agent{ID: "agent-bad-policy", CredentialHash: []byte("cred-bad-policy"),
		Created: at(70), UpdatePolicy: "never"}); err == nil {
		f.Errorf("CreateAgent with update policy \"never\": got no error")
	}
	got, _ = f.s.Agent(f.ctx, "agent-1")
	eq(f, "update policy after a refused one", got.Policy(), store.UpdatePinned)
}

func testAgentConnections(f *fixture) {
	f.company("co-1", 0)
	f.company("co-2", 0)
	f.connectionAt("co-1", "conn-b", store.Linked, "agent-1", 2)
	f.connectionAt("co-1", "conn-a", store.Linked, "agent-1", 3)
	f.connectionAt("co-1", "conn-p", store.PendingAuth, "", 1)
	f.connectionAt("co-1", "conn-c", store.Linked, "agent-2", 1)
	f.connectionAt("co-2", "conn-z", store.Linked, "agent-1", 9)
	eq(f, "agent-1's connections, oldest first", f.agentConns("agent-1"), "[conn-b conn-a conn-z]")
	eq(f, "agent-2's connections", f.agentConns("agent-2"), "[conn-c]")
	eq(f, "an unknown agent's connections", f.agentConns("agent-none"), "[]")

	_, err := f.s.RedeemLinkCode(f.ctx, linkHash("conn-p"), "agent-1", at(10))
	noErr(f, "RedeemLinkCode", err)
	eq(f, "after a redemption", f.agentConns("agent-1"), "[conn-p conn-b conn-a conn-z]")
	update := func(id string, fn func(*store.Connection)) {
		_, err := f.s.UpdateConnection(f.ctx, "co-1", id, func(c *store.Connection) error { fn(c); return nil })
		noErr(f, "UpdateConnection("+id+")", err)
	}
	update("conn-b", func(c *store.Connection) { c.Status, c.AgentID = store.Deauthorized, "" })
	update("conn-a", func(c *store.Connection) { c.Status = store.Unlinked })
	update("conn-c", func(c *store.Connection) { c.AgentID = "agent-1" })
	eq(f, "agent-1 after updates", f.agentConns("agent-1"), "[conn-c conn-p conn-a conn-z]")
	eq(f, "agent-2 after its connection moved", f.agentConns("agent-2"), "[]")
	noErr(f, "DeleteConnection", f.s.DeleteConnection(f.ctx, "co-1", "conn-p"))
	eq(f, "agent-1 after a deletion", f.agentConns("agent-1"), "[conn-c conn-a conn-z]")
	noErr(f, "DeleteCompany", f.s.DeleteCompany(f.ctx, "co-1"))
	eq(f, "agent-1 after its company was deleted", f.agentConns("agent-1"), "[conn-z]")
	f.company("co-1", 20)
	f.connectionAt("co-1", "conn-a", store.PendingAuth, "", 20)
	eq(f, "agent-1 after a company of the same id came back", f.agentConns("agent-1"), "[conn-z]")
}

func testRedeemLinkCode(f *fixture) {
	f.company("co-1", 0)
	f.connection("co-1", "conn-1", store.PendingAuth, "")
	f.connection("co-1", "conn-2", store.PendingAuth, "")
	expires := at(7 * 24 * 3600)

	c, err := f.s.RedeemLinkCode(f.ctx, linkHash("conn-1"), "agent-1", at(10))
	noErr(f, "RedeemLinkCode", err)
	stored, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	for _, c := range []store.Connection{c, stored} {
		eq(f, "redeemed status", c.Status, store.Linked)
		eq(f, "redeemed agent", c.AgentID, "agent-1")
		eq(f, "redeemed code expiry cleared", c.LinkCodeExpires.IsZero(), true)
	}
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 11)
	f.claim("ds-1", "agent-1", "lease-1", 12)

	_, err = f.s.RedeemLinkCode(f.ctx, linkHash("conn-1"), "agent-2", at(13))
	wantErr(f, "RedeemLinkCode of a used code", err, store.ErrNotFound)
	_, err = f.s.RedeemLinkCode(f.ctx, []byte("hash-unknown"), "agent-1", at(13))
	wantErr(f, "RedeemLinkCode of an unknown code", err, store.ErrNotFound)
	c, _ = f.s.Connection(f.ctx, "co-1", "conn-1")
	eq(f, "agent after a refused redemption", c.AgentID, "agent-1")

	_, err = f.s.RedeemLinkCode(f.ctx, linkHash("conn-2"), "agent-1", expires.Add(time.Second))
	wantErr(f, "RedeemLinkCode of an expired code", err, store.ErrCodeExpired)
	_, err = f.s.RedeemLinkCode(f.ctx, linkHash("conn-2"), "agent-1", at(20))
	wantErr(f, "RedeemLinkCode of an expired code again", err, store.ErrNotFound)
	c, _ = f.s.Connection(f.ctx, "co-1", "conn-2")
	eq(f, "status after an expired code", c.Status, store.PendingAuth)
	eq(f, "agent after an expired code", c.AgentID, "")
	eq(f, "agent-1's connections", f.agentConns("agent-1"), "[conn-1]")
}

func testRedeemConcurrent(f *fixture) {
	f.company("co-1", 0)
	for _, n := range []int{2, 8, 32} {
		conn := fmt.Sprintf("conn-%d", n)
		f.connection("co-1", conn, store.PendingAuth, "")
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range n {
			wg.Go(func() {
				<-start
				_, errs[g] = f.s.RedeemLinkCode(f.ctx, linkHash(conn), fmt.Sprintf("agent-%d", g), at(1))
			})
		}
		close(start)
		wg.Wait()
		winners := []int{}
		for g, err := range errs {
			switch {
			case err == nil:
				winners = append(winners, g)
			case !errors.Is(err, store.ErrNotFound):
				f.Errorf("%d redemptions: a loser got %v, want ErrNotFound", n, err)
			}
		}
		if len(winners) != 1 {
			f.Errorf("%d concurrent redemptions: got winners %v, want exactly one", n, winners)
			continue
		}
		c, err := f.s.Connection(f.ctx, "co-1", conn)
		noErr(f, "Connection", err)
		winner := fmt.Sprintf("agent-%d", winners[0])
		eq(f, fmt.Sprintf("%d redemptions: agent", n), c.AgentID, winner)
		for g := range n {
			got := slices.Contains(f.agentConnIDs(fmt.Sprintf("agent-%d", g)), conn)
			eq(f, fmt.Sprintf("%d redemptions: %s bound to agent-%d", n, conn, g), got, g == winners[0])
		}
	}
}

// testWithdrawnLosesCode: a connection the client unlinks, or the end
// user deauthorizes, loses the code issued for it, which could otherwise
// link it again.
func testWithdrawnLosesCode(f *fixture) {
	f.company("co-1", 0)
	for _, status := range []store.ConnectionStatus{store.Unlinked, store.Deauthorized} {
		id := "conn-" + string(status)
		f.connection("co-1", id, store.PendingAuth, "")
		c, err := f.s.UpdateConnection(f.ctx, "co-1", id, func(c *store.Connection) error {
			c.Status = status
			return nil
		})
		noErr(f, "UpdateConnection to "+string(status), err)
		eq(f, string(status)+": code expiry cleared", c.LinkCodeExpires.IsZero(), true)
		_, err = f.s.RedeemLinkCode(f.ctx, linkHash(id), "agent-1", at(1))
		wantErr(f, string(status)+": RedeemLinkCode of its code", err, store.ErrNotFound)
		c, _ = f.s.Connection(f.ctx, "co-1", id)
		eq(f, string(status)+": status after the refused code", c.Status, status)
	}
	// A code issued for the Unlinked connection (the client relinking) is
	// voided by unlinking it again.
	id := "conn-" + string(store.Unlinked)
	code := store.LinkCode{Hash: []byte("hash-again"), CompanyID: "co-1", ConnectionID: id, Expires: at(500)}
	_, err := f.s.ReplaceLinkCode(f.ctx, "co-1", id, code, store.Unlinked)
	noErr(f, "ReplaceLinkCode of the Unlinked connection", err)
	_, err = f.s.UpdateConnection(f.ctx, "co-1", id, func(c *store.Connection) error {
		c.Status = store.Unlinked
		return nil
	})
	noErr(f, "UpdateConnection to Unlinked again", err)
	_, err = f.s.RedeemLinkCode(f.ctx, code.Hash, "agent-1", at(2))
	wantErr(f, "RedeemLinkCode after unlinking again", err, store.ErrNotFound)
}

func testReplaceLinkCode(f *fixture) {
	f.company("co-1", 0)
	f.connection("co-1", "conn-1", store.PendingAuth, "")
	f.connection("co-1", "conn-2", store.PendingAuth, "")
	code := func(h string, expires int) store.LinkCode {
		return store.LinkCode{Hash: []byte(h), CompanyID: "co-1", ConnectionID: "conn-1", Expires: at(expires)}
	}
	anyNotLinked := []store.ConnectionStatus{store.PendingAuth, store.Deauthorized, store.Unlinked}
	replace := func(what string, c store.LinkCode) store.Connection {
		f.Helper()
		got, err := f.s.ReplaceLinkCode(f.ctx, "co-1", "conn-1", c, anyNotLinked...)
		noErr(f, "ReplaceLinkCode, "+what, err)
		return got
	}
	c := replace("pending", code("hash-b", 500))
	stored, _ := f.s.Connection(f.ctx, "co-1", "conn-1")
	for _, c := range []store.Connection{c, stored} {
		eqTime(f, "code expiry", c.LinkCodeExpires, at(500))
		eq(f, "status until redeemed", c.Status, store.PendingAuth)
	}
	_, err := f.s.RedeemLinkCode(f.ctx, linkHash("conn-1"), "agent-1", at(1))
	wantErr(f, "RedeemLinkCode of the replaced code", err, store.ErrNotFound)
	c, err = f.s.RedeemLinkCode(f.ctx, []byte("hash-b"), "agent-1", at(1))
	noErr(f, "RedeemLinkCode of the new code", err)
	eq(f, "status after the new code", c.Status, store.Linked)

	_, err = f.s.ReplaceLinkCode(f.ctx, "co-1", "conn-1", code("hash-c", 500), anyNotLinked...)
	wantErr(f, "ReplaceLinkCode of a linked connection", err, store.ErrLinked)
	_, err = f.s.RedeemLinkCode(f.ctx, []byte("hash-c"), "agent-2", at(2))
	wantErr(f, "RedeemLinkCode of a refused code", err, store.ErrNotFound)

	for i, status := range []store.ConnectionStatus{store.Deauthorized, store.Unlinked} {
		_, err := f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
			c.Status, c.AgentID = status, ""
			return nil
		})
		noErr(f, "UpdateConnection to "+string(status), err)
		h, agent := fmt.Sprintf("hash-%s", status), fmt.Sprintf("agent-%d", i+3)
		_, err = f.s.ReplaceLinkCode(f.ctx, "co-1", "conn-1", code(h+"-refused", 500), store.PendingAuth)
		wantErr(f, string(status)+": ReplaceLinkCode allowed from PendingAuth only", err, store.ErrCodeRefused)
		_, err = f.s.RedeemLinkCode(f.ctx, []byte(h+"-refused"), agent, at(3))
		wantErr(f, string(status)+": RedeemLinkCode of a refused code", err, store.ErrNotFound)
		c := replace(string(status), code(h, 500))
		eq(f, string(status)+": status until redeemed", c.Status, status)
		c, err = f.s.RedeemLinkCode(f.ctx, []byte(h), agent, at(3))
		noErr(f, string(status)+": RedeemLinkCode", err)
		eq(f, string(status)+": status after a new code", c.Status, store.Linked)
		eq(f, string(status)+": agent after a new code", c.AgentID, agent)
		id := fmt.Sprintf("ds-%d", i)
		f.queue("co-1", "conn-1", id, dataset.DataTypes[i], 4)
		f.claim(id, agent, "lease-"+id, 5)
	}

	_, err = f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.Status, c.AgentID = store.Deauthorized, ""
		return nil
	})
	noErr(f, "UpdateConnection", err)
	replace("an expired code", code("hash-old", 10))
	_, err = f.s.RedeemLinkCode(f.ctx, []byte("hash-old"), "agent-1", at(11))
	wantErr(f, "RedeemLinkCode of an expired new code", err, store.ErrCodeExpired)

	refusals := []struct {
		name, co, conn string
		c              store.LinkCode
		want           error
	}{
		{"missing connection", "co-1", "conn-missing", store.LinkCode{Hash: []byte("hash-x")}, store.ErrNotFound},
		{"missing company", "co-missing", "conn-1", store.LinkCode{Hash: []byte("hash-x")}, store.ErrNotFound},
		{"a hash taken by another connection", "co-1", "conn-1", code(string(linkHash("conn-2")), 500), store.ErrExists},
	}
	for _, tt := range refusals {
		_, err := f.s.ReplaceLinkCode(f.ctx, tt.co, tt.conn, tt.c, anyNotLinked...)
		wantErr(f, "ReplaceLinkCode, "+tt.name, err, tt.want)
	}
	c, err = f.s.RedeemLinkCode(f.ctx, linkHash("conn-2"), "agent-2", at(12))
	noErr(f, "RedeemLinkCode of the other connection's code", err)
	eq(f, "the other connection", c.ID, "conn-2")
}

func testPutPage(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-2", store.Linked, "agent-2")
	f.mapping("co-1", "conn-1", "ds-m", dataset.Customers, "agent-1", "lease-m", 1)
	f.queue("co-1", "conn-1", "ds-f", dataset.Suppliers, 1)
	f.claim("ds-f", "agent-1", "lease-f", 2)
	f.queue("co-1", "conn-1", "ds-q", dataset.Invoices, 1)
	f.mapping("co-1", "conn-2", "ds-other", dataset.Customers, "agent-2", "lease-o", 1)

	f.putPage("agent-1", "ds-m", "lease-m", 3, []byte("three\n"))
	f.putPage("agent-1", "ds-m", "lease-m", 1, []byte("one\n"))
	f.putPage("agent-1", "ds-m", "lease-m", 2, []byte("two\ntwo\n"))
	page := func(agent, id, lease string) store.Page {
		return store.Page{AgentID: agent, DatasetID: id, LeaseID: lease, N: 1, Records: 1, Data: []byte("x\n")}
	}
	refusals := []struct {
		name string
		p    store.Page
		want error
	}{
		{"another agent's dataset", page("agent-2", "ds-m", "lease-m"), store.ErrNotFound},
		{"missing dataset", page("agent-1", "ds-missing", "lease-m"), store.ErrNotFound},
		{"stale lease", page("agent-1", "ds-m", "lease-old"), store.ErrStaleLease},
		{"no lease", page("agent-1", "ds-m", ""), store.ErrStaleLease},
		{"another dataset's lease", page("agent-1", "ds-m", "lease-f"), store.ErrStaleLease},
		{"fetching", page("agent-1", "ds-f", "lease-f"), store.ErrTransition},
		{"queued", page("agent-1", "ds-q", "lease-q"), store.ErrStaleLease},
	}
	for _, tt := range refusals {
		wantErr(f, "PutPage, "+tt.name, f.s.PutPage(f.ctx, tt.p), tt.want)
	}
	f.putPage("agent-1", "ds-m", "lease-m", 1, []byte("replaced\n"))

	got := f.pages("ds-m")
	if len(got) != 3 {
		f.Fatalf("Pages: got %d pages, want 3", len(got))
	}
	for i, want := range []string{"one\n", "two\ntwo\n", "three\n"} {
		p := got[i]
		eq(f, fmt.Sprintf("page %d number", i+1), p.N, i+1)
		eq(f, fmt.Sprintf("page %d data", i+1), string(p.Data), want)
		eq(f, fmt.Sprintf("page %d records", i+1), p.Records, bytes.Count([]byte(want), []byte("\n")))
		eq(f, fmt.Sprintf("page %d lease", i+1), p.LeaseID, "lease-m")
		eq(f, fmt.Sprintf("page %d agent", i+1), p.AgentID, "agent-1")
		eq(f, fmt.Sprintf("page %d dataset", i+1), p.DatasetID, "ds-m")
	}
	eq(f, "pages of a dataset without any", len(f.pages("ds-f")), 0)
	wantErr(f, "Pages(missing)", f.s.Pages(f.ctx, "ds-missing", func(store.Page) error { return nil }), store.ErrNotFound)
	stop := errors.New("stop")
	calls := 0
	err := f.s.Pages(f.ctx, "ds-m", func(store.Page) error { calls++; return stop })
	wantErr(f, "Pages stopped by fn", err, stop)
	eq(f, "calls of a stopping fn", calls, 1)

	// A page as large as a page may be uncompressed.
	big := bytes.Repeat([]byte(`{"id":"x","pad":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"}`+"\n"), 32<<20/80)
	f.putPage("agent-2", "ds-other", "lease-o", 1, big)
	if got := f.pages("ds-other"); len(got) != 1 || !bytes.Equal(got[0].Data, big) {
		f.Errorf("a page of %d bytes did not come back whole", len(big))
	}
}

// testClaimClearsPages checks that the pages of an attempt whose lease
// expired are gone once the dataset is claimed again.
func testClaimClearsPages(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.mapping("co-1", "conn-1", "ds-1", dataset.Customers, "agent-1", "lease-1", 1)
	f.putPage("agent-1", "ds-1", "lease-1", 1, []byte("old one\n"))
	f.putPage("agent-1", "ds-1", "lease-1", 2, []byte("old two\n"))
	moved, err := f.s.ExpireLeases(f.ctx, at(2).Add(ttl))
	noErr(f, "ExpireLeases", err)
	eqIDs(f, "expired", moved, "ds-1")
	f.claim("ds-1", "agent-1", "lease-2", 100)
	eq(f, "pages after a new claim", len(f.pages("ds-1")), 0)
	err = f.s.PutPage(f.ctx, store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: 3, Records: 1, Data: []byte("x\n")})
	wantErr(f, "PutPage under the expired lease", err, store.ErrStaleLease)
	f.report(agentReport("co-1", "ds-1", "agent-1", "lease-2", dataset.Mapping, 101))
	f.putPage("agent-1", "ds-1", "lease-2", 1, []byte("new one\n"))
	got := f.pages("ds-1")
	if len(got) != 1 || string(got[0].Data) != "new one\n" || got[0].LeaseID != "lease-2" {
		f.Errorf("pages of the new attempt: got %+v, want the new page 1 only", got)
	}
}

func testCommitUpload(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-2", store.Linked, "agent-2")
	f.mapping("co-1", "conn-1", "ds-1", dataset.Customers, "agent-1", "lease-1", 1)
	f.putPage("agent-1", "ds-1", "lease-1", 1, []byte("one\n"))
	f.queue("co-1", "conn-1", "ds-f", dataset.Suppliers, 1)
	f.claim("ds-f", "agent-1", "lease-f", 2)

	refusals := []struct {
		name, agent, id, lease string
		want                   error
	}{
		{"another agent's dataset", "agent-2", "ds-1", "lease-1", store.ErrNotFound},
		{"missing dataset", "agent-1", "ds-missing", "lease-1", store.ErrNotFound},
		{"stale lease", "agent-1", "ds-1", "lease-old", store.ErrStaleLease},
		{"no lease", "agent-1", "ds-1", "", store.ErrStaleLease},
		{"fetching", "agent-1", "ds-f", "lease-f", store.ErrTransition},
	}
	for _, tt := range refusals {
		_, err := f.s.CommitUpload(f.ctx, tt.agent, tt.id, tt.lease, at(10))
		wantErr(f, "CommitUpload, "+tt.name, err, tt.want)
	}
	got1, err := f.s.AgentDataset(f.ctx, "agent-1", "ds-1")
	noErr(f, "AgentDataset", err)
	eq(f, "AgentDataset lease", got1.LeaseID, "lease-1")
	_, err = f.s.AgentDataset(f.ctx, "agent-2", "ds-1")
	wantErr(f, "AgentDataset of another agent's dataset", err, store.ErrNotFound)
	_, err = f.s.AgentDataset(f.ctx, "agent-1", "ds-missing")
	wantErr(f, "AgentDataset of a missing dataset", err, store.ErrNotFound)
	eq(f, "status after refused commits", f.dataset("co-1", "ds-1").Status, dataset.Mapping)

	d, err := f.s.CommitUpload(f.ctx, "agent-1", "ds-1", "lease-1", at(20))
	noErr(f, "CommitUpload", err)
	committed := store.Transition{At: at(20), From: dataset.Mapping, To: dataset.Validating, Actor: store.ActorCoordinator, Attempt: 1}
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "committed status", d.Status, dataset.Validating)
		eq(f, "committed lease", d.LeaseID, "")
		eq(f, "committed lease agent", d.LeaseAgent, "")
		eq(f, "committed lease kept", d.CommittedLease, "lease-1")
		eq(f, "committed progress", d.Progress, store.StageProgress(dataset.Validating))
		eq(f, "committed timeline entries", len(d.Timeline), 4)
		checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[3:]}, committed)
	}
	got := f.pages("ds-1")
	if len(got) != 1 || string(got[0].Data) != "one\n" {
		f.Errorf("pages after the commit: got %+v, want page 1", got)
	}
	held, err := f.s.RenewLeases(f.ctx, "agent-1", at(30))
	noErr(f, "RenewLeases", err)
	eqIDs(f, "leases after the commit", held, "ds-f")

	again, err := f.s.CommitUpload(f.ctx, "agent-1", "ds-1", "lease-1", at(21))
	noErr(f, "CommitUpload sent again", err)
	eq(f, "resent commit: status", again.Status, dataset.Validating)
	eq(f, "resent commit: timeline entries", len(f.dataset("co-1", "ds-1").Timeline), 4)
	f.report(coordReport("co-1", "ds-1", dataset.Processing, 22))
	again, err = f.s.CommitUpload(f.ctx, "agent-1", "ds-1", "lease-1", at(23))
	noErr(f, "CommitUpload sent again once Processing", err)
	eq(f, "late resent commit: status", again.Status, dataset.Processing)
	_, err = f.s.CommitUpload(f.ctx, "agent-1", "ds-1", "lease-other", at(23))
	wantErr(f, "CommitUpload of a committed dataset under another lease", err, store.ErrStaleLease)
	_, err = f.s.Report(f.ctx, agentReport("co-1", "ds-1", "agent-1", "lease-1", dataset.MapError, 24))
	wantErr(f, "report under a committed lease", err, store.ErrStaleLease)
	err = f.s.PutPage(f.ctx, store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: 2, Records: 1, Data: []byte("x\n")})
	wantErr(f, "PutPage after the commit", err, store.ErrStaleLease)
}

func testUnprocessed(f *fixture) {
	list, err := f.s.Unprocessed(f.ctx)
	noErr(f, "Unprocessed on an empty store", err)
	eqIDs(f, "unprocessed on an empty store", list)
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-2", "conn-2", "agent-1")
	f.queue("co-1", "conn-1", "ds-q", dataset.Company, 1)
	f.mapping("co-1", "conn-1", "ds-m", dataset.Customers, "agent-1", "lease-m", 1)
	f.mapping("co-1", "conn-1", "ds-v", dataset.Suppliers, "agent-1", "lease-v", 1)
	f.upload("ds-v", "agent-1", "lease-v", 5, page("ds-v", "a"))
	f.mapping("co-1", "conn-1", "ds-p", dataset.Invoices, "agent-1", "lease-p", 1)
	f.upload("ds-p", "agent-1", "lease-p", 5, page("ds-p", "a"))
	f.report(coordReport("co-1", "ds-p", dataset.Processing, 6))
	f.mapping("co-1", "conn-1", "ds-e", dataset.Bills, "agent-1", "lease-e", 1)
	f.upload("ds-e", "agent-1", "lease-e", 5, page("ds-e", "a"))
	f.report(coordReport("co-1", "ds-e", dataset.ValidationError, 6))
	f.mapping("co-2", "conn-2", "ds-x", dataset.Bills, "agent-1", "lease-x", 1)
	f.upload("ds-x", "agent-1", "lease-x", 5, page("ds-x", "a"))

	list, err = f.s.Unprocessed(f.ctx)
	noErr(f, "Unprocessed", err)
	eqIDs(f, "unprocessed", list, "ds-p", "ds-v", "ds-x")
	eq(f, "unprocessed dataset's company", list[2].CompanyID, "co-2")
	_, err = f.s.PublishCache(f.ctx, "co-1", "ds-p", at(10))
	noErr(f, "PublishCache", err)
	f.report(coordReport("co-1", "ds-v", dataset.Processing, 11))
	noErr(f, "DeleteCompany", f.s.DeleteCompany(f.ctx, "co-2"))
	list, err = f.s.Unprocessed(f.ctx)
	noErr(f, "Unprocessed after the changes", err)
	eqIDs(f, "unprocessed after the changes", list, "ds-v")
	eq(f, "unprocessed status", list[0].Status, dataset.Processing)
}

// testAgentDatasetByCredential: one read gives the agent of a credential
// and its dataset, as AgentByCredential and AgentDataset would: a revoked
// agent as it is, another agent's dataset ErrNotFound with the agent, an
// unknown credential the zero Agent and ErrNotFound.
func testAgentDatasetByCredential(f *fixture) {
	f.agent("agent-1", 1)
	f.agent("agent-2", 2)
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 10)
	a, d, err := f.s.AgentDatasetByCredential(f.ctx, []byte("cred-agent-1"), "ds-1")
	noErr(f, "AgentDatasetByCredential", err)
	eq(f, "agent", a.ID, "agent-1")
	eq(f, "dataset", d.ID, "ds-1")
	eq(f, "dataset status", d.Status, dataset.Queued)
	a, _, err = f.s.AgentDatasetByCredential(f.ctx, []byte("cred-agent-2"), "ds-1")
	wantErr(f, "another agent's dataset", err, store.ErrNotFound)
	eq(f, "agent with another's dataset", a.ID, "agent-2")
	a, _, err = f.s.AgentDatasetByCredential(f.ctx, []byte("cred-agent-1"), "ds-missing")
	wantErr(f, "a missing dataset", err, store.ErrNotFound)
	eq(f, "agent with a missing dataset", a.ID, "agent-1")
	a, _, err = f.s.AgentDatasetByCredential(f.ctx, []byte("cred-unknown"), "ds-1")
	wantErr(f, "an unknown credential", err, store.ErrNotFound)
	eq(f, "agent of an unknown credential", a.ID, "")
	_, err = f.s.UpdateAgent(f.ctx, "agent-1", func(a *store.Agent) error { a.Revoked = at(60); return nil })
	noErr(f, "UpdateAgent", err)
	a, _, err = f.s.AgentDatasetByCredential(f.ctx, []byte("cred-agent-1"), "ds-1")
	noErr(f, "AgentDatasetByCredential of a revoked agent", err)
	eqTime(f, "revoked", a.Revoked, at(60))
}
