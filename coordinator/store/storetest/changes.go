package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// testFeed: each call that commits what a subscriber acts on publishes
// one change with what it did; a transaction run again after a conflict
// publishes only its last run, and one that fails publishes nothing.
func testFeed(f *fixture) {
	t, b, ctx := f.T, f.s, f.ctx
	feed := b.Feed()
	sub := feed.Subscribe(feed.Head())
	next := func(what string) store.Change {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cs, err := sub.Next(wctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("%s: Next = %d changes, %v; want 1", what, len(cs), err)
		}
		return cs[0]
	}
	now := at(0)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("CreateCompany", b.CreateCompany(ctx, store.Company{ID: "co", Name: "Co", Created: now}))
	must("CreateWebhook", b.CreateWebhook(ctx, store.Webhook{ID: "wh", URL: "https://example.com/h", EventTypes: []string{store.EventReadCompleted}, Secret: "s", Created: now}))
	if feed.Head() != 0 {
		t.Errorf("a company and a webhook published %d changes, want none: no subscriber acts on them", feed.Head())
	}
	must("CreateAgent", b.CreateAgent(ctx, store.Agent{ID: "ag", CredentialHash: []byte("h"), Created: now}))
	if c := next("CreateAgent"); !slices.Equal(c.NewAgents, []string{"ag"}) {
		t.Errorf("CreateAgent: new agents %v, want [ag]", c.NewAgents)
	}
	conn := store.Connection{ID: "cn", CompanyID: "co", PlatformKey: "gnucash", Status: store.Linked, Created: now, AgentID: "ag"}
	must("CreateConnection", b.CreateConnection(ctx, conn, store.LinkCode{Hash: []byte("code"), Expires: now.Add(time.Hour)}))
	c := next("CreateConnection")
	if want := (store.ConnectionChange{ID: "cn", CompanyID: "co", To: store.Linked, AgentID: "ag"}); !slices.Equal(c.Connections, []store.ConnectionChange{want}) {
		t.Errorf("CreateConnection: %+v, want %+v", c.Connections, want)
	}

	// Eight concurrent queueings of one type: one wins, after conflicts.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = b.QueueDataset(ctx, store.QueueRequest{ID: "ds-" + string(rune('a'+i)), CompanyID: "co", ConnectionID: "cn",
				DataType: dataset.Invoices, Now: now, Message: "test"})
		}()
	}
	wg.Wait()
	c = next("QueueDataset")
	if len(c.Datasets) != 1 || c.Datasets[0].From != "" || c.Datasets[0].To != dataset.Queued || c.Datasets[0].ConnectionID != "cn" {
		t.Errorf("QueueDataset: datasets %+v, want one new Queued", c.Datasets)
	}
	if want := now.Add(24 * time.Hour); !c.SyncDue.Equal(want) {
		t.Errorf("QueueDataset: sync due %v, want %v", c.SyncDue, want)
	}
	head := feed.Head()
	if _, err := b.QueueDataset(ctx, store.QueueRequest{ID: "ds-z", CompanyID: "co", ConnectionID: "cn",
		DataType: dataset.Invoices, Now: now}); !errors.As(err, new(*store.InProgressError)) {
		t.Fatalf("queue again: %v, want InProgressError", err)
	}
	if feed.Head() != head {
		t.Errorf("a failed call published: head %d, want %d", feed.Head(), head)
	}

	id := c.Datasets[0].ID
	_, err := b.Report(ctx, store.Report{CompanyID: "co", DatasetID: id, Actor: store.ActorCoordinator, To: dataset.NotSupported, Now: now})
	must("Report", err)
	c = next("Report")
	if len(c.Datasets) != 1 || c.Datasets[0].From != dataset.Queued || c.Datasets[0].To != dataset.NotSupported || c.Deliveries != 1 {
		t.Errorf("Report: datasets %+v, deliveries %d; want Queued -> NotSupported and one delivery", c.Datasets, c.Deliveries)
	}

	_, err = b.UpdateAgent(ctx, "ag", func(a *store.Agent) error { a.Revoked = now; return nil })
	must("UpdateAgent", err)
	if c = next("revoke"); !slices.Equal(c.RevokedAgents, []string{"ag"}) {
		t.Errorf("revoke: agents %v, want [ag]", c.RevokedAgents)
	}
	_, err = b.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error { c.Status = store.Unlinked; return nil })
	must("UpdateConnection", err)
	c = next("unlink")
	if want := (store.ConnectionChange{ID: "cn", CompanyID: "co", From: store.Linked, To: store.Unlinked, AgentID: "ag"}); !slices.Equal(c.Connections, []store.ConnectionChange{want}) {
		t.Errorf("unlink: %+v, want %+v", c.Connections, want)
	}
	must("DeleteConnection", b.DeleteConnection(ctx, "co", "cn"))
	c = next("delete")
	if want := (store.ConnectionChange{ID: "cn", CompanyID: "co", From: store.Unlinked, AgentID: "ag"}); !slices.Equal(c.Connections, []store.ConnectionChange{want}) {
		t.Errorf("delete: %+v, want %+v", c.Connections, want)
	}
}
