package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// What Populate writes and CheckCopy looks for.
const (
	dumpSecret = "dump-secret"
	dumpAgent  = "agent-1"
	// dumpPending is the connection whose link code is still to redeem.
	dumpPending = "conn-pending"
	// dumpInFlight is the dataset an agent holds under a lease.
	dumpInFlight = "ds-fetching"
	// dumpUnprocessed is the dataset the coordinator has still to publish.
	dumpUnprocessed = "ds-processing"
)

// dumpTypes are the data types Populate uses, one per dataset state.
var dumpTypes = dataset.DataTypes

// Populate fills s, through its methods, with at least one item of every
// kind of dump (store.Kinds) and the states a move must carry: a
// published cache, a dataset held under a lease, one uploaded and still
// to publish, queued work, a link code to redeem, a revoked agent, a
// failing webhook with a retry due. Every time is a whole second, which
// every backend keeps exactly.
func Populate(t *testing.T, s store.Backend) {
	t.Helper()
	f := &fixture{T: t, s: s, ctx: t.Context()}
	_, err := s.Secret(f.ctx, dumpSecret)
	noErr(f, "Secret", err)
	noErr(f, "CreateAPIKey", s.CreateAPIKey(f.ctx, store.APIKey{ID: "key-1", Name: "admin", Scope: store.ScopeClient, Hash: []byte("key-hash-1"), Created: at(1)}))
	noErr(f, "CreateAPIKey", s.CreateAPIKey(f.ctx, store.APIKey{ID: "key-2", Scope: store.ScopeSupport, Hash: []byte("key-hash-2"), Created: at(2)}))
	f.agent(dumpAgent, 3)
	f.agent("agent-2", 4)
	_, err = s.UpdateAgent(f.ctx, "agent-2", func(a *store.Agent) error { a.Revoked = at(5); return nil })
	noErr(f, "UpdateAgent", err)
	noErr(f, "SetProfileSyncSettings", s.SetProfileSyncSettings(f.ctx, []store.SyncSetting{{DataType: dumpTypes[1], SyncSchedule: 12, SyncOrder: 3}}))
	_, err = s.UpdateProfile(f.ctx, func(p *store.Profile) error {
		*p = store.Profile{Name: "Lender", RedirectURL: "https://app.example.com/{companyId}", WhiteListURLs: []string{"https://app.example.com"},
			ConfirmCompanyName: true, AllowedOrigins: []string{"https://app.example.com"}}
		return nil
	})
	noErr(f, "UpdateProfile", err)
	f.webhook("wh-1", store.EventTypes...)

	co := store.Company{ID: "co-1", Name: "One", Description: "the first", Tags: map[string]string{"region": "uk"}, Created: at(10),
		SyncWindow: &store.SyncWindow{TimeZone: "Europe/Paris", Windows: []store.Window{{Days: []string{"Sat", "Sun"}, Start: "00:00", End: "00:00"}}}}
	noErr(f, "CreateCompany", s.CreateCompany(f.ctx, co))
	f.company("co-2", 11)
	noErr(f, "SetCompanySyncSettings", s.SetCompanySyncSettings(f.ctx, store.CompanySyncSettings{
		CompanyID: "co-2", OverridesDefaults: true, Settings: []store.SyncSetting{{DataType: dumpTypes[0], SyncSchedule: 0}}, // an entry with no due time
	}))
	f.connectionAt("co-1", "conn-1", store.Linked, dumpAgent, 12)
	f.connectionAt("co-1", dumpPending, store.PendingAuth, "", 13)
	f.connectionAt("co-2", "conn-2", store.Linked, dumpAgent, 14)

	f.publish("co-1", "conn-1", "ds-complete", dumpTypes[0], dumpAgent, 20, page("v1", "r1", "r2"), page("v1", "r3"))
	noErr(f, "SetValidation", s.SetValidation(f.ctx, "co-1", "ds-complete", store.ValidationResult{
		Warnings: []store.ValidationItem{{RuleID: "rule-1", ItemID: "r2", Message: "odd", ValidatorName: "test"}},
	}))
	f.queue("co-1", "conn-1", dumpInFlight, dumpTypes[1], 30)
	f.claim(dumpInFlight, dumpAgent, "lease-fetching", 31)
	f.mapping("co-1", "conn-1", dumpUnprocessed, dumpTypes[2], dumpAgent, "lease-processing", 40)
	f.upload(dumpUnprocessed, dumpAgent, "lease-processing", 43, page("v2", "p1", "p2"), page("v2", "p3"))
	f.report(coordReport("co-1", dumpUnprocessed, dataset.Processing, 44))
	f.queue("co-1", "conn-1", "ds-queued", dumpTypes[3], 50)
	f.fail("co-2", f.queue("co-2", "conn-2", "ds-failed", dumpTypes[0], 60).ID, dumpAgent, 61)
	// Paused, and the client's window set, once its dataset has failed:
	// the work of a held connection is not claimed.
	noErr(f, "SetProfileSyncWindow", s.SetProfileSyncWindow(f.ctx, &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{{Days: []string{"Mon"}, Start: "19:00", End: "07:00"}}}))
	_, err = s.UpdateConnection(f.ctx, "co-2", "conn-2", func(c *store.Connection) error {
		c.PausedSince, c.SyncWindow = at(15), &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{}}
		return nil
	})
	noErr(f, "UpdateConnection", err)

	noErr(f, "AddAgentEvent", s.AddAgentEvent(f.ctx, store.AgentEvent{
		ID: "aev-1", AgentID: dumpAgent, At: at(70), Type: store.EventConnected, Detail: "1.0.0",
		RemoteAddress: "127.0.0.1:5000", Connections: []string{"conn-1", "conn-2"},
	}))
	ds, err := s.DueDeliveries(f.ctx, at(80), 1)
	noErr(f, "DueDeliveries", err)
	if len(ds) == 0 {
		f.Fatal("no webhook delivery is due")
	}
	a := store.DeliveryAttempt{WebhookID: "wh-1", EventID: ds[0].Event.ID, EventType: ds[0].Event.Type, Attempt: 1, At: at(80), StatusCode: 500, Outcome: store.OutcomeRetrying, NextAttempt: at(140)}
	_, err = s.DeliveryFailed(f.ctx, ds[0], a, at(140), time.Hour)
	noErr(f, "DeliveryFailed", err)
}

// CheckCopy checks that to holds what from holds, after a move from a
// store that Populate filled: both export the same items, every kind
// present, and to answers as from does the queries a coordinator starts
// with. It then uses to as a coordinator would after the move: the
// agent's credential and the API key authenticate, the lease left by the
// agent expires and its dataset is queued again, the link code is
// redeemed. Both must be store.Exporters.
func CheckCopy(t *testing.T, from, to store.Backend) {
	t.Helper()
	ctx := t.Context()
	want, got := dumpLines(t, from), dumpLines(t, to)
	if d := lineDiff(want, got); d != "" {
		t.Errorf("the copy's dump differs from the source's:\n%s", d)
	}
	kinds := store.Counts{}
	for _, l := range want {
		kinds[store.Kind(l[:strings.IndexByte(l, '\t')])]++
	}
	for _, k := range store.Kinds {
		if kinds[k] == 0 {
			t.Errorf("the dump has no %s: Populate must write every kind", k)
		}
	}

	same := func(what string, read func(s store.Backend) (any, error)) {
		t.Helper()
		w, err := read(from)
		noErr(t, what+" on the source", err)
		g, err := read(to)
		noErr(t, what+" on the copy", err)
		if wj, gj := jsonOf(t, w), jsonOf(t, g); wj != gj {
			t.Errorf("%s: got %s on the copy, want %s as on the source", what, cut(gj), cut(wj))
		}
	}
	same("AgentByCredential", func(s store.Backend) (any, error) { return s.AgentByCredential(ctx, []byte("cred-"+dumpAgent)) })
	same("revoked AgentByCredential", func(s store.Backend) (any, error) { return s.AgentByCredential(ctx, []byte("cred-agent-2")) })
	same("APIKeyByHash", func(s store.Backend) (any, error) { return s.APIKeyByHash(ctx, []byte("key-hash-1")) })
	same("APIKeys", func(s store.Backend) (any, error) { return s.APIKeys(ctx) })
	same("Agents", func(s store.Backend) (any, error) { return s.Agents(ctx) })
	same("Secret", func(s store.Backend) (any, error) { return s.Secret(ctx, dumpSecret) })
	same("Companies", func(s store.Backend) (any, error) { return s.Companies(ctx) })
	same("Connections", func(s store.Backend) (any, error) { return s.Connections(ctx, "co-1") })
	same("AgentConnections", func(s store.Backend) (any, error) { return s.AgentConnections(ctx, dumpAgent) })
	same("Datasets", func(s store.Backend) (any, error) { return s.Datasets(ctx, "co-1") })
	same("DataStatus", func(s store.Backend) (any, error) { return s.DataStatus(ctx, "co-1") })
	same("DatasetCounts", func(s store.Backend) (any, error) { return s.DatasetCounts(ctx) })
	same("QueuedDatasets", func(s store.Backend) (any, error) {
		q, g, err := s.QueuedDatasets(ctx, "conn-1")
		return []any{q, g}, err
	})
	same("Unprocessed", func(s store.Backend) (any, error) { return s.Unprocessed(ctx) })
	same("Validation", func(s store.Backend) (any, error) { return s.Validation(ctx, "co-1", "ds-complete") })
	same("ProfileSyncSettings", func(s store.Backend) (any, error) { return s.ProfileSyncSettings(ctx) })
	same("CompanySyncSettings", func(s store.Backend) (any, error) { return s.CompanySyncSettings(ctx, "co-2") })
	same("DueSyncs", func(s store.Backend) (any, error) { return s.DueSyncs(ctx, at(1e8), 0) })
	same("Webhooks", func(s store.Backend) (any, error) { return s.Webhooks(ctx) })
	same("DueDeliveries", func(s store.Backend) (any, error) { return s.DueDeliveries(ctx, at(1e8), 1000) })
	same("PendingDeliveries", func(s store.Backend) (any, error) { return s.PendingDeliveries(ctx) })
	same("DeliveryLog", func(s store.Backend) (any, error) { return s.DeliveryLog(ctx, "wh-1", 0) })
	same("AgentEvents", func(s store.Backend) (any, error) { return s.AgentEvents(ctx, dumpAgent) })
	same("CachedRecords", func(s store.Backend) (any, error) { return cachedRecords(ctx, s, "co-1", dumpTypes[0]) })
	same("CachedRecord", func(s store.Backend) (any, error) { return s.CachedRecord(ctx, "co-1", string(dumpTypes[0]), "r2") })
	same("Pages", func(s store.Backend) (any, error) { return pagesOf(ctx, s, dumpUnprocessed) })
	if recs, err := cachedRecords(ctx, to, "co-1", dumpTypes[0]); err != nil || len(recs) != 3 {
		t.Errorf("cached records on the copy: %q, %v; want r1, r2, r3", recs, err)
	}
	if ps, err := pagesOf(ctx, to, dumpUnprocessed); err != nil || len(ps) != 2 {
		t.Errorf("pages of %s on the copy: %q, %v; want 2", dumpUnprocessed, ps, err)
	}
	checkCopyLives(t, to)
}

// checkCopyLives uses a copy as the coordinator would after the move.
func checkCopyLives(t *testing.T, to store.Backend) {
	t.Helper()
	ctx := t.Context()
	a, err := to.AgentByCredential(ctx, []byte("cred-"+dumpAgent))
	if err != nil || a.ID != dumpAgent {
		t.Errorf("AgentByCredential on the copy: %+v, %v; want %s", a, err, dumpAgent)
	}
	if k, err := to.APIKeyByHash(ctx, []byte("key-hash-1")); err != nil || k.ID != "key-1" {
		t.Errorf("APIKeyByHash on the copy: %+v, %v; want key-1", k, err)
	}
	held, err := to.RenewLeases(ctx, dumpAgent, at(100))
	if err != nil || len(held) != 1 || held[0].ID != dumpInFlight {
		t.Errorf("RenewLeases on the copy: %v, %v; want [%s]", ids(held), err, dumpInFlight)
	}
	moved, err := to.ExpireLeases(ctx, at(100))
	if err != nil || len(moved) != 1 || moved[0].ID != dumpInFlight || moved[0].Status != dataset.Queued {
		t.Errorf("ExpireLeases on the copy: %+v, %v; want %s back in Queued", moved, err, dumpInFlight)
	}
	q, _, err := to.QueuedDatasets(ctx, "conn-1")
	if err != nil || !slices.Contains(ids(q), dumpInFlight) {
		t.Errorf("QueuedDatasets on the copy after the lease expired: %v, %v; want %s among them", ids(q), err, dumpInFlight)
	}
	c, err := to.RedeemLinkCode(ctx, linkHash(dumpPending), dumpAgent, at(200))
	if err != nil || c.ID != dumpPending || c.Status != store.Linked {
		t.Errorf("RedeemLinkCode on the copy: %+v, %v; want %s Linked", c, err, dumpPending)
	}
	d, err := to.PublishCache(ctx, "co-1", dumpUnprocessed, at(201))
	if err != nil || d.Status != dataset.Complete {
		t.Errorf("PublishCache of %s on the copy: %s, %v; want Complete", dumpUnprocessed, d.Status, err)
	}
	if recs, err := cachedRecords(ctx, to, "co-1", dumpTypes[2]); err != nil || len(recs) != 3 {
		t.Errorf("records published on the copy: %q, %v; want p1, p2, p3", recs, err)
	}
}

// dumpLines is what s exports, an item a line ("kind\tjson"), sorted.
func dumpLines(t *testing.T, s store.Backend) []string {
	t.Helper()
	ex, ok := s.(store.Exporter)
	if !ok {
		t.Fatalf("%T is no store.Exporter", s)
	}
	var out []string
	err := ex.Export(t.Context(), func(it store.Item) error {
		out = append(out, string(it.Kind())+"\t"+jsonOf(t, it))
		return nil
	})
	noErr(t, "Export", err)
	slices.Sort(out)
	return out
}

// lineDiff lists the lines of two sorted lists that only one has.
func lineDiff(want, got []string) string {
	var b strings.Builder
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || (i < len(want) && want[i] < got[j]):
			fmt.Fprintf(&b, "- %s\n", want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, "+ %s\n", got[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return b.String()
}

// cut is s, shortened to what an error message can show.
func cut(s string) string {
	if len(s) > 1500 {
		return s[:1500] + "..."
	}
	return s
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	noErr(t, "encode", err)
	return string(b)
}

// cachedRecords lists the current snapshot as "id record".
func cachedRecords(ctx context.Context, s store.Backend, co string, dt dataset.DataType) ([]string, error) {
	var out []string
	err := s.CachedRecords(ctx, co, string(dt), func(id string, r []byte) error {
		out = append(out, id+" "+string(r))
		return nil
	})
	return out, err
}

// pagesOf lists the staged pages of a dataset, their data included.
func pagesOf(ctx context.Context, s store.Backend, ds string) ([]string, error) {
	var out []string
	err := s.Pages(ctx, ds, func(p store.Page) error {
		out = append(out, fmt.Sprintf("%s %s %d %d %s", p.AgentID, p.LeaseID, p.N, p.Records, p.Data))
		return nil
	})
	return out, err
}
