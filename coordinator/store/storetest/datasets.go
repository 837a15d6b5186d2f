package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// queuedEntry is the first timeline entry the fixture's queue makes.
func queuedEntry(sec int) store.Transition {
	return store.Transition{At: at(sec), To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: 1, Message: "queued by test"}
}

func testQueueDataset(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-pending", store.PendingAuth, "")
	d := f.queueOrder("co-1", "conn-1", "ds-1", dataset.Customers, 3, 5)
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "id", d.ID, "ds-1")
		eq(f, "company", d.CompanyID, "co-1")
		eq(f, "connection", d.ConnectionID, "conn-1")
		eq(f, "data type", d.DataType, dataset.Customers)
		eq(f, "status", d.Status, dataset.Queued)
		eqTime(f, "requested", d.Requested, at(5))
		eq(f, "sync order", d.SyncOrder, 3)
		eq(f, "attempt", d.Attempt, 1)
		eq(f, "progress", d.Progress, 0)
		eq(f, "completed", d.Completed.IsZero(), true)
		eq(f, "lease", d.LeaseID, "")
		checkTimeline(f, d, queuedEntry(5))
	}

	// An agent that is not there yet: the dataset waits in Queued.
	d = f.queue("co-1", "conn-pending", "ds-pending", dataset.Customers, 6)
	eq(f, "status on a PendingAuth connection", d.Status, dataset.Queued)

	// Once the dataset is terminal, the type can be queued again.
	f.report(coordReport("co-1", "ds-1", dataset.NotSupported, 7))
	d = f.queue("co-1", "conn-1", "ds-2", dataset.Customers, 8)
	eq(f, "status of a new dataset after a terminal one", d.Status, dataset.Queued)
}

func testQueueRefusals(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-2", "conn-2", "agent-2")
	f.connection("co-1", "conn-unlinked", store.Unlinked, "agent-1")
	f.connection("co-1", "conn-deauth", store.Deauthorized, "agent-1")
	f.queue("co-1", "conn-1", "ds-queued", dataset.Customers, 1)
	f.queue("co-1", "conn-1", "ds-fetching", dataset.Suppliers, 2)
	f.claim("ds-fetching", "agent-1", "lease-1", 3)

	tests := []struct {
		name, id, company, conn string
		typ                     dataset.DataType
		want                    error
		busy                    string // the in-progress dataset of an *InProgressError
		busyStatus              dataset.Status
	}{
		{"type queued", "ds-a", "co-1", "conn-1", dataset.Customers, nil, "ds-queued", dataset.Queued},
		{"type fetching", "ds-b", "co-1", "conn-1", dataset.Suppliers, nil, "ds-fetching", dataset.Fetching},
		{"unlinked connection", "ds-c", "co-1", "conn-unlinked", dataset.Customers, store.ErrUnlinked, "", ""},
		{"missing company", "ds-d", "co-missing", "conn-1", dataset.Customers, store.ErrNotFound, "", ""},
		{"missing connection", "ds-e", "co-1", "conn-missing", dataset.Customers, store.ErrNotFound, "", ""},
		{"another company's connection", "ds-f", "co-1", "conn-2", dataset.Customers, store.ErrNotFound, "", ""},
		{"taken dataset id", "ds-queued", "co-1", "conn-1", dataset.Invoices, store.ErrExists, "", ""},
	}
	for _, tt := range tests {
		_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{
			ID: tt.id, CompanyID: tt.company, ConnectionID: tt.conn, DataType: tt.typ, Now: at(10),
		})
		if tt.busy != "" {
			var busy *store.InProgressError
			if !errors.As(err, &busy) {
				f.Errorf("QueueDataset, %s: got %v, want *InProgressError", tt.name, err)
				continue
			}
			eq(f, tt.name+": in-progress id", busy.DatasetID, tt.busy)
			eq(f, tt.name+": in-progress status", busy.Status, tt.busyStatus)
			continue
		}
		wantErr(f, "QueueDataset, "+tt.name, err, tt.want)
	}

	// Other types, and the same type on another connection, are free.
	f.queue("co-1", "conn-1", "ds-g", dataset.Invoices, 11)
	f.queue("co-2", "conn-2", "ds-h", dataset.Customers, 12)

	// Deauthorized: the dataset is born and ends in AuthError, and holds
	// nothing, so queueing again makes another.
	for _, id := range []string{"ds-auth-1", "ds-auth-2"} {
		d := f.queue("co-1", "conn-deauth", id, dataset.Customers, 13)
		eq(f, id+" status", d.Status, dataset.AuthError)
		eqTime(f, id+" completed", d.Completed, at(13))
		eq(f, id+" progress", d.Progress, 100)
		if d.ErrorMessage == "" {
			f.Errorf("%s: no error message", id)
		}
		checkTimeline(f, d, queuedEntry(13), store.Transition{
			At: at(13), From: dataset.Queued, To: dataset.AuthError, Actor: store.ActorCoordinator, Attempt: 1,
		})
	}
	q, _, err := f.s.QueuedDatasets(f.ctx, "conn-deauth")
	noErr(f, "QueuedDatasets", err)
	eq(f, "queued on a Deauthorized connection", len(q), 0)
}

func testQueueConcurrent(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = f.s.QueueDataset(f.ctx, store.QueueRequest{
				ID: "ds-" + string(rune('a'+i)), CompanyID: "co-1", ConnectionID: "conn-1",
				DataType: dataset.Invoices, Now: at(i),
			})
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, err := range errs {
		var busy *store.InProgressError
		switch {
		case err == nil && winner == "":
			winner = "ds-" + string(rune('a'+i))
		case err == nil:
			f.Errorf("two concurrent queue calls won: %s and ds-%c", winner, 'a'+i)
		case !errors.As(err, &busy):
			f.Errorf("losing queue call: got %v, want *InProgressError", err)
		}
	}
	if winner == "" {
		f.Fatalf("no concurrent queue call won")
	}
	list, err := f.s.Datasets(f.ctx, "co-1")
	noErr(f, "Datasets", err)
	eqIDs(f, "datasets after concurrent queue calls", list, winner)
}

func testDatasets(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-2", store.Linked, "agent-1")
	f.company("co-empty", 0)
	list, err := f.s.Datasets(f.ctx, "co-empty")
	noErr(f, "Datasets of a company without any", err)
	eq(f, "datasets of a company without any", len(list), 0)

	f.queue("co-1", "conn-1", "ds-5", dataset.Customers, 5)
	f.queue("co-1", "conn-2", "ds-1", dataset.Suppliers, 1)
	f.queue("co-1", "conn-1", "ds-3", dataset.Invoices, 3)
	f.fail("co-1", "ds-3", "agent-1", 6)
	list, err = f.s.Datasets(f.ctx, "co-1")
	noErr(f, "Datasets", err)
	eqIDs(f, "datasets newest requested first", list, "ds-5", "ds-3", "ds-1")
	eq(f, "status in the list", list[1].Status, dataset.FetchError)

	_, err = f.s.Datasets(f.ctx, "co-missing")
	wantErr(f, "Datasets(missing company)", err, store.ErrNotFound)
	_, err = f.s.Dataset(f.ctx, "co-1", "ds-missing")
	wantErr(f, "Dataset(missing)", err, store.ErrNotFound)
	_, err = f.s.Dataset(f.ctx, "co-empty", "ds-5")
	wantErr(f, "Dataset of another company", err, store.ErrNotFound)
}

func testDataStatus(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-other", "conn-other", "agent-1")
	status, err := f.s.DataStatus(f.ctx, "co-1")
	noErr(f, "DataStatus before any sync", err)
	eq(f, "types before any sync", len(status), 0)

	f.queue("co-1", "conn-1", "sup-1", dataset.Suppliers, 1)
	f.fail("co-1", "sup-1", "agent-1", 2) // failed first
	f.queue("co-1", "conn-1", "cus-1", dataset.Customers, 10)
	f.complete("co-1", "cus-1", "agent-1", 11)
	f.queue("co-1", "conn-1", "cus-2", dataset.Customers, 20)
	f.fail("co-1", "cus-2", "agent-1", 21) // failed after a success
	f.queue("co-1", "conn-1", "inv-1", dataset.Invoices, 30)
	f.complete("co-1", "inv-1", "agent-1", 31) // success
	f.queue("co-1", "conn-1", "bil-1", dataset.Bills, 40)
	f.complete("co-1", "bil-1", "agent-1", 41)
	f.queue("co-1", "conn-1", "bil-2", dataset.Bills, 50) // in progress after a success
	f.queue("co-other", "conn-other", "oth-1", dataset.TaxRates, 60)
	// Two connections: the newest requested counts, not the last to finish.
	f.connection("co-1", "conn-2", store.Linked, "agent-1")
	f.queue("co-1", "conn-1", "jou-early", dataset.JournalEntries, 70)
	f.queue("co-1", "conn-2", "jou-late", dataset.JournalEntries, 71)
	f.complete("co-1", "jou-late", "agent-1", 72)
	f.complete("co-1", "jou-early", "agent-1", 80)

	status, err = f.s.DataStatus(f.ctx, "co-1")
	noErr(f, "DataStatus", err)
	tests := []struct {
		typ                dataset.DataType
		latest             string
		latestStatus       dataset.Status
		successful         string // "" when none
		successfulComplete int    // when it completed, in seconds
	}{
		{dataset.Suppliers, "sup-1", dataset.FetchError, "", 0},
		{dataset.Customers, "cus-2", dataset.FetchError, "cus-1", 15},
		{dataset.Invoices, "inv-1", dataset.Complete, "inv-1", 35},
		{dataset.Bills, "bil-2", dataset.Queued, "bil-1", 45},
		{dataset.JournalEntries, "jou-late", dataset.Complete, "jou-late", 76},
	}
	eq(f, "types in the data status", len(status), len(tests))
	for _, tt := range tests {
		ts, ok := status[tt.typ]
		if !ok {
			f.Errorf("DataStatus: %s missing", tt.typ)
			continue
		}
		eq(f, string(tt.typ)+" latest", ts.Latest.ID, tt.latest)
		eq(f, string(tt.typ)+" latest status", ts.Latest.Status, tt.latestStatus)
		if tt.successful == "" {
			if ts.LatestSuccessful != nil {
				f.Errorf("%s latest successful: got %s, want none", tt.typ, ts.LatestSuccessful.ID)
			}
			continue
		}
		if ts.LatestSuccessful == nil {
			f.Errorf("%s latest successful: got none, want %s", tt.typ, tt.successful)
			continue
		}
		eq(f, string(tt.typ)+" latest successful", ts.LatestSuccessful.ID, tt.successful)
		eq(f, string(tt.typ)+" latest successful status", ts.LatestSuccessful.Status, dataset.Complete)
		eqTime(f, string(tt.typ)+" latest successful completed", ts.LatestSuccessful.Completed, at(tt.successfulComplete))
	}
	if _, ok := status[dataset.TaxRates]; ok {
		f.Errorf("DataStatus lists taxRates, never synced for co-1")
	}
	_, err = f.s.DataStatus(f.ctx, "co-missing")
	wantErr(f, "DataStatus(missing company)", err, store.ErrNotFound)
}

func testQueuedDatasets(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-2", store.Linked, "agent-1")
	f.queueOrder("co-1", "conn-1", "ds-order2", dataset.Customers, 2, 1)
	f.queueOrder("co-1", "conn-1", "ds-order1-late", dataset.Suppliers, 1, 3)
	f.queueOrder("co-1", "conn-1", "ds-order1-early", dataset.Invoices, 1, 2)
	f.queueOrder("co-1", "conn-1", "ds-negative", dataset.Bills, -1, 5)
	f.queueOrder("co-1", "conn-1", "ds-claimed", dataset.TaxRates, 0, 0)
	f.queueOrder("co-1", "conn-1", "ds-ended", dataset.JournalEntries, 0, 0)
	f.queueOrder("co-1", "conn-2", "ds-elsewhere", dataset.Customers, 0, 0)
	f.claim("ds-claimed", "agent-1", "lease-1", 6)
	f.report(coordReport("co-1", "ds-ended", dataset.NotSupported, 6))

	q, _, err := f.s.QueuedDatasets(f.ctx, "conn-1")
	noErr(f, "QueuedDatasets", err)
	eqIDs(f, "dispatch order", q, "ds-negative", "ds-order1-early", "ds-order1-late", "ds-order2")
	for _, d := range q {
		eq(f, d.ID+" status", d.Status, dataset.Queued)
		eq(f, d.ID+" company", d.CompanyID, "co-1")
	}
	q, _, err = f.s.QueuedDatasets(f.ctx, "conn-unknown")
	noErr(f, "QueuedDatasets(unknown connection)", err)
	eq(f, "queued on an unknown connection", len(q), 0)

	// The connections with queued work: conn-3 has none (its one dataset
	// was claimed), conn-2 one, conn-1 four.
	f.connection("co-1", "conn-3", store.Linked, "agent-1")
	f.queue("co-1", "conn-3", "ds-3", dataset.Customers, 0)
	f.claim("ds-3", "agent-1", "lease-3", 7)
	conns, err := f.s.QueuedConnections(f.ctx)
	noErr(f, "QueuedConnections", err)
	if !slices.Equal(conns, []string{"conn-1", "conn-2"}) {
		f.Errorf("QueuedConnections = %v, want [conn-1 conn-2]", conns)
	}
	// Asked again after each move: conn-2's last dataset claimed, then
	// new work on conn-3.
	f.claim("ds-elsewhere", "agent-1", "lease-2", 8)
	conns, err = f.s.QueuedConnections(f.ctx)
	noErr(f, "QueuedConnections after a claim", err)
	if !slices.Equal(conns, []string{"conn-1"}) {
		f.Errorf("QueuedConnections after conn-2's claim = %v, want [conn-1]", conns)
	}
	f.queue("co-1", "conn-3", "ds-3b", dataset.Invoices, 9)
	conns, err = f.s.QueuedConnections(f.ctx)
	noErr(f, "QueuedConnections after a queue", err)
	if !slices.Equal(conns, []string{"conn-1", "conn-3"}) {
		f.Errorf("QueuedConnections after a queue on conn-3 = %v, want [conn-1 conn-3]", conns)
	}
}

func testValidation(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.company("co-2", 0)
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	v, err := f.s.Validation(f.ctx, "co-1", "ds-1")
	noErr(f, "Validation before any", err)
	if v.Errors == nil || v.Warnings == nil || len(v.Errors)+len(v.Warnings) != 0 {
		f.Errorf("Validation before any: got %+v, want empty lists", v)
	}

	want := store.ValidationResult{
		Errors: []store.ValidationItem{
			{RuleID: "balance", ItemID: "je-1", Message: "journal does not balance", ValidatorName: "journals"},
			{RuleID: "ref", ItemID: "inv-9", Message: "unknown customer", ValidatorName: "references"},
		},
		Warnings: []store.ValidationItem{{RuleID: "dup", ItemID: "c-1", Message: "duplicate", ValidatorName: "ids"}},
	}
	noErr(f, "SetValidation", f.s.SetValidation(f.ctx, "co-1", "ds-1", want))
	v, err = f.s.Validation(f.ctx, "co-1", "ds-1")
	noErr(f, "Validation", err)
	eq(f, "errors", len(v.Errors), 2)
	eq(f, "warnings", len(v.Warnings), 1)
	if len(v.Errors) == 2 && len(v.Warnings) == 1 {
		eq(f, "errors[1]", v.Errors[1], want.Errors[1])
		eq(f, "warnings[0]", v.Warnings[0], want.Warnings[0])
	}

	replaced := store.ValidationResult{Warnings: want.Warnings}
	noErr(f, "SetValidation again", f.s.SetValidation(f.ctx, "co-1", "ds-1", replaced))
	v, _ = f.s.Validation(f.ctx, "co-1", "ds-1")
	if len(v.Errors) != 0 || !slices.Equal(v.Warnings, want.Warnings) {
		f.Errorf("Validation after replacing: got %+v, want only the warning", v)
	}

	err = f.s.SetValidation(f.ctx, "co-1", "ds-missing", want)
	wantErr(f, "SetValidation(missing dataset)", err, store.ErrNotFound)
	_, err = f.s.Validation(f.ctx, "co-1", "ds-missing")
	wantErr(f, "Validation(missing dataset)", err, store.ErrNotFound)
	_, err = f.s.Validation(f.ctx, "co-2", "ds-1")
	wantErr(f, "Validation of another company's dataset", err, store.ErrNotFound)
}

// testInvalidInput checks that malformed input is refused with an error,
// and leaves nothing behind.
func testInvalidInput(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	tests := []struct {
		name string
		call func() error
	}{
		{"company without id", func() error { return f.s.CreateCompany(f.ctx, store.Company{Name: "x"}) }},
		{"company id with a slash", func() error { return f.s.CreateCompany(f.ctx, store.Company{ID: "co-1/x"}) }},
		{"dataset without id", func() error {
			_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{CompanyID: "co-1", ConnectionID: "conn-1", DataType: dataset.Bills, Now: at(2)})
			return err
		}},
		{"unknown data type", func() error {
			_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: "ds-x", CompanyID: "co-1", ConnectionID: "conn-1", DataType: "items", Now: at(2)})
			return err
		}},
		{"claim without lease", func() error {
			_, err := f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: "ds-1", AgentID: "agent-1", Now: at(2), TTL: ttl})
			return err
		}},
		{"claim without TTL", func() error {
			_, err := f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: "ds-1", AgentID: "agent-1", LeaseID: "l", Now: at(2)})
			return err
		}},
		{"unknown status", func() error {
			_, err := f.s.Report(f.ctx, coordReport("co-1", "ds-1", "Done", 2))
			return err
		}},
		{"progress over 99", func() error {
			r := coordReport("co-1", "ds-1", dataset.Queued, 2)
			r.Progress = 100
			_, err := f.s.Report(f.ctx, r)
			return err
		}},
		{"API key without hash", func() error {
			return f.s.CreateAPIKey(f.ctx, store.APIKey{ID: "k", Scope: store.ScopeClient})
		}},
		{"API key with unknown scope", func() error {
			return f.s.CreateAPIKey(f.ctx, store.APIKey{ID: "k", Scope: "root", Hash: []byte("h")})
		}},
	}
	for _, tt := range tests {
		if err := tt.call(); err == nil {
			f.Errorf("%s: got no error", tt.name)
		}
	}
	all, _ := f.s.Companies(f.ctx)
	eq(f, "companies after refused input", len(all), 1)
	list, _ := f.s.Datasets(f.ctx, "co-1")
	eqIDs(f, "datasets after refused input", list, "ds-1")
	eq(f, "dataset status after refused input", list[0].Status, dataset.Queued)
	keys, _ := f.s.APIKeys(f.ctx)
	eq(f, "API keys after refused input", len(keys), 0)
}

// testLookupBadIDs checks that an id no object can have (invalid UTF-8,
// a control character, a '/', over the length limit) is not found by every
// call that looks an object up: ErrNotFound, as for an id that is not
// stored, never another error.
func testLookupBadIDs(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	for _, bad := range []string{"\x00", "\xff\xfe", strings.Repeat("a", 300), "a/b", "a\nb", "\x7f", "\u0085"} {
		calls := []struct {
			name string
			call func() error
		}{
			{"Company", func() error { _, err := f.s.Company(f.ctx, bad); return err }},
			{"UpdateCompany", func() error {
				_, err := f.s.UpdateCompany(f.ctx, bad, func(*store.Company) error { return nil })
				return err
			}},
			{"DeleteCompany", func() error { return f.s.DeleteCompany(f.ctx, bad) }},
			{"Connection", func() error { _, err := f.s.Connection(f.ctx, "co-1", bad); return err }},
			{"Connections", func() error { _, err := f.s.Connections(f.ctx, bad); return err }},
			{"UpdateConnection", func() error {
				_, err := f.s.UpdateConnection(f.ctx, bad, "conn-1", func(*store.Connection) error { return nil })
				return err
			}},
			{"DeleteConnection", func() error { return f.s.DeleteConnection(f.ctx, "co-1", bad) }},
			{"QueueDataset", func() error {
				_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: "ds-2", CompanyID: bad, ConnectionID: "conn-1", DataType: dataset.Bills, Now: at(2)})
				return err
			}},
			{"Dataset", func() error { _, err := f.s.Dataset(f.ctx, "co-1", bad); return err }},
			{"Datasets", func() error { _, err := f.s.Datasets(f.ctx, bad); return err }},
			{"DataStatus", func() error { _, err := f.s.DataStatus(f.ctx, bad); return err }},
			{"Validation", func() error { _, err := f.s.Validation(f.ctx, "co-1", bad); return err }},
			{"Claim", func() error {
				_, err := f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: bad, AgentID: "agent-1", LeaseID: "l", Now: at(2), TTL: ttl})
				return err
			}},
			{"Report", func() error {
				_, err := f.s.Report(f.ctx, agentReport("co-1", bad, "agent-1", "l", dataset.Mapping, 2))
				return err
			}},
			{"Report, company", func() error {
				_, err := f.s.Report(f.ctx, coordReport(bad, "ds-1", dataset.InternalError, 2))
				return err
			}},
			{"RevokeLease", func() error { return f.s.RevokeLease(f.ctx, "agent-1", "co-1", bad) }},
			{"Agent", func() error { _, err := f.s.Agent(f.ctx, bad); return err }},
			{"AgentEvents", func() error { _, err := f.s.AgentEvents(f.ctx, bad); return err }},
			{"AgentDataset", func() error { _, err := f.s.AgentDataset(f.ctx, "agent-1", bad); return err }},
			{"PutPage", func() error {
				return f.s.PutPage(f.ctx, store.Page{AgentID: "agent-1", DatasetID: bad, LeaseID: "l", N: 1, Data: []byte("{}\n")})
			}},
			{"CommitUpload", func() error { _, err := f.s.CommitUpload(f.ctx, "agent-1", bad, "l", at(2)); return err }},
			{"CachedRecord", func() error { _, err := f.s.CachedRecord(f.ctx, bad, "invoices", "r"); return err }},
			{"CachedRecordExists", func() error { _, err := f.s.CachedRecordExists(f.ctx, bad, "invoices", "r"); return err }},
			{"CompanySyncSettings", func() error { _, err := f.s.CompanySyncSettings(f.ctx, bad); return err }},
			{"DeleteAPIKey", func() error { return f.s.DeleteAPIKey(f.ctx, bad) }},
			{"Webhook", func() error { _, err := f.s.Webhook(f.ctx, bad); return err }},
			{"DeleteWebhook", func() error { return f.s.DeleteWebhook(f.ctx, bad) }},
			{"DeliveryLog", func() error { _, err := f.s.DeliveryLog(f.ctx, bad, 10); return err }},
		}
		for _, c := range calls {
			wantErr(f, fmt.Sprintf("%s(%q)", c.name, bad), c.call(), store.ErrNotFound)
		}
	}
	d := f.dataset("co-1", "ds-1")
	eq(f, "dataset status after lookups of bad ids", d.Status, dataset.Queued)
}

// testQueuePick: a queue request that names no connection goes on the
// company's only connection that is not Unlinked; with OrderBySettings
// its sync order is the type's in the settings in force; the answer
// carries the connection and its gate, all read in the queue's
// transaction.
func testQueuePick(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-gone", store.Unlinked, "agent-1")
	noErr(f, "SetCompanySyncSettings", f.s.SetCompanySyncSettings(f.ctx, store.CompanySyncSettings{
		CompanyID: "co-1", OverridesDefaults: true,
		Settings: []store.SyncSetting{
			{DataType: dataset.Customers, SyncSchedule: 24, SyncOrder: 5},
			{DataType: dataset.Invoices, SyncSchedule: 24, SyncOrder: 2},
		},
	}))
	_, err := f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.PausedSince = at(1)
		return nil
	})
	noErr(f, "pause conn-1", err)
	queue := func(id string, dt dataset.DataType, bySettings bool) (store.Queued, error) {
		return f.s.QueueDataset(f.ctx, store.QueueRequest{
			ID: id, CompanyID: "co-1", DataType: dt, SyncOrder: 1, OrderBySettings: bySettings, Now: at(2),
		})
	}
	q, err := queue("ds-1", dataset.Invoices, true)
	noErr(f, "QueueDataset with no connection", err)
	eq(f, "picked connection", q.ConnectionID, "conn-1")
	eq(f, "answer's connection", q.Connection.ID, "conn-1")
	eq(f, "answer's connection's platform", q.Connection.PlatformKey, "gnucash")
	eq(f, "sync order from the settings", q.SyncOrder, 2)
	eq(f, "gate's connection", q.Gate.ConnectionID, "conn-1")
	eqTime(f, "gate's pause", q.Gate.PausedSince, at(1))
	eq(f, "stored sync order", f.dataset("co-1", "ds-1").SyncOrder, 2)
	settings, err := f.s.EffectiveSyncSettings(f.ctx, "co-1")
	noErr(f, "EffectiveSyncSettings", err)
	want := len(settings) // a type they do not name goes last
	for _, s := range settings {
		if s.DataType == dataset.Bills {
			want = s.SyncOrder
		}
	}
	q, err = queue("ds-2", dataset.Bills, true)
	noErr(f, "QueueDataset of bills", err)
	eq(f, "sync order of bills, as the settings in force say", q.SyncOrder, want)
	q, err = queue("ds-3", dataset.Suppliers, false)
	noErr(f, "QueueDataset with its own sync order", err)
	eq(f, "sync order asked for", q.SyncOrder, 1)
	_, err = queue("ds-4", dataset.Invoices, true)
	var busy *store.InProgressError
	if !errors.As(err, &busy) || busy.DatasetID != "ds-1" {
		f.Errorf("queue again on the picked connection: got %v, want *InProgressError naming ds-1", err)
	}

	// The offer's read: the queued datasets with the gate read with them.
	queued, gate, err := f.s.QueuedDatasets(f.ctx, "conn-1")
	noErr(f, "QueuedDatasets", err)
	eq(f, "queued on conn-1", len(queued), 3)
	if gate == nil {
		f.Fatalf("QueuedDatasets(conn-1): no gate, want conn-1's")
	}
	eq(f, "QueuedDatasets' gate's connection", gate.ConnectionID, "conn-1")
	eqTime(f, "QueuedDatasets' gate's pause", gate.PausedSince, at(1))
	queued, gate, err = f.s.QueuedDatasets(f.ctx, "conn-gone")
	noErr(f, "QueuedDatasets(nothing queued)", err)
	if len(queued) != 0 || gate != nil {
		f.Errorf("QueuedDatasets(nothing queued) = %d, gate %+v; want none and no gate", len(queued), gate)
	}

	f.linked("co-2", "conn-2a", "agent-2")
	f.connection("co-2", "conn-2b", store.Deauthorized, "agent-2")
	f.company("co-3", 0)
	f.connection("co-3", "conn-3", store.Unlinked, "agent-3")
	for _, tt := range []struct {
		name, company string
		want          error
	}{
		{"two live connections", "co-2", store.ErrAmbiguous},
		{"only an Unlinked connection", "co-3", store.ErrNoConnection},
		{"missing company", "co-missing", store.ErrNotFound},
	} {
		_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: "ds-x", CompanyID: tt.company, DataType: dataset.Customers, Now: at(3)})
		wantErr(f, "QueueDataset, "+tt.name, err, tt.want)
	}
}
