// Package storetest is the contract of a store backend (store.Backend) and the
// conformance suite every backend passes: storetest.Run(t, open) runs it as
// subtests, each on a fresh, empty store made by open. Time is a fixed base plus offsets, so nothing sleeps.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// t0 is the time base of every test.
var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// at is t0 plus sec seconds.
func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// ttl is the lease time to live of the tests' claims.
const ttl = 60 * time.Second

// Run runs the conformance suite. open returns a new, empty store, and
// closes it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	tests := []struct {
		name string
		run  func(*fixture)
	}{
		{"Companies", testCompanies},
		{"Feed", testFeed},
		{"UpdateCompany", testUpdateCompany},
		{"DeleteCompany", testDeleteCompany},
		{"Connections", testConnections},
		{"UpdateConnection", testUpdateConnection},
		{"LinkCodes", testLinkCodes},
		{"DeleteConnection", testDeleteConnection},
		{"WithdrawnConnection", testWithdrawnConnection},
		{"WithdrawnLosesCode", testWithdrawnLosesCode},
		{"QueueDataset", testQueueDataset},
		{"QueueRefusals", testQueueRefusals},
		{"QueuePick", testQueuePick},
		{"QueueConcurrent", testQueueConcurrent},
		{"Datasets", testDatasets},
		{"DataStatus", testDataStatus},
		{"QueuedDatasets", testQueuedDatasets},
		{"DatasetCounts", testDatasetCounts},
		{"Claim", testClaim},
		{"ClaimRefusals", testClaimRefusals},
		{"ClaimConcurrent", testClaimConcurrent},
		{"ReportLifecycle", testReportLifecycle},
		{"ReportRefusals", testReportRefusals},
		{"ReportIdempotent", testReportIdempotent},
		{"ReportProgress", testReportProgress},
		{"ReportWarnings", testReportWarnings},
		{"ReportAll", testReportAll},
		{"ReportAllRefusals", testReportAllRefusals},
		{"RenewLeases", testRenewLeases},
		{"ExpireLeases", testExpireLeases},
		{"ExpireLeasesAfterQuietPasses", testExpireAfterQuietPasses},
		{"RevokeLease", testRevokeLease},
		{"ExpireLeasesAttempts", testExpireAttempts},
		{"Validation", testValidation},
		{"APIKeys", testAPIKeys},
		{"Secret", testSecret},
		{"Agents", testAgents},
		{"AgentConnections", testAgentConnections},
		{"AgentEvents", testAgentEvents},
		{"RoundTrips", testRoundTrips},
		{"RedeemLinkCode", testRedeemLinkCode},
		{"RedeemConcurrent", testRedeemConcurrent},
		{"ReplaceLinkCode", testReplaceLinkCode},
		{"PutPage", testPutPage},
		{"ClaimClearsPages", testClaimClearsPages},
		{"ClaimHeld", testClaimHeld},
		{"CommitUpload", testCommitUpload},
		{"AgentDatasetByCredential", testAgentDatasetByCredential},
		{"Unprocessed", testUnprocessed},
		{"PublishCache", testPublishCache},
		{"PublishCacheReplace", testPublishCacheReplace},
		{"PublishCacheConsistent", testPublishCacheConsistent},
		{"PublishCacheReaderPaused", testPublishCacheReaderPaused},
		{"PublishCacheLarge", testPublishCacheLarge},
		{"WriteSnapshot", testWriteSnapshot},
		{"FinishUpload", testFinishUpload},
		{"FinishUploadFails", testFinishUploadFails},
		{"FinishUploadRefusals", testFinishUploadRefusals},
		{"FinishUploadConcurrent", testFinishUploadConcurrent},
		{"FinishUploadCommit", testFinishUploadCommit},
		{"FinishUploadLastPage", testFinishUploadLastPage},
		{"DeleteCompanyData", testDeleteCompanyData},
		{"InvalidInput", testInvalidInput},
		{"LookupBadIDs", testLookupBadIDs},
		{"Bundles", testBundles},
		{"LogLevelFeed", testLogLevelFeed},
		{"Rollouts", testRollouts},
		{"UpdateAskFeed", testUpdateAskFeed},
	}
	tests = append(tests, settingsTests...)
	tests = append(tests, syncWindowTests...)
	tests = append(tests, profileTests...)
	tests = append(tests, webhookTests...)
	tests = append(tests, replicaTests...)
	tests = append(tests, heldTests...)
	tests = append(tests, connErrorTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(&fixture{T: t, s: open(t), ctx: t.Context()})
		})
	}
}

// fixture is one test's store with helpers that fail the test on error.
type fixture struct {
	*testing.T
	s   store.Backend
	ctx context.Context
}

// company creates a company created at(sec).
func (f *fixture) company(id string, sec int) store.Company {
	f.Helper()
	c := store.Company{ID: id, Name: "Company " + id, Created: at(sec)}
	if err := f.s.CreateCompany(f.ctx, c); err != nil {
		f.Fatalf("CreateCompany(%s): %v", id, err)
	}
	return c
}

// linkHash is the link code hash the fixture gives connection id.
func linkHash(id string) []byte { return []byte("hash-of-code-" + id) }

// connection creates a connection with the given status and agent.
func (f *fixture) connection(co, id string, status store.ConnectionStatus, agent string) store.Connection {
	f.Helper()
	c := store.Connection{
		ID: id, CompanyID: co, PlatformKey: "gnucash", Status: status, Created: at(0), AgentID: agent,
	}
	code := store.LinkCode{Hash: linkHash(id), CompanyID: co, ConnectionID: id, Expires: at(7 * 24 * 3600)}
	if err := f.s.CreateConnection(f.ctx, c, code); err != nil {
		f.Fatalf("CreateConnection(%s): %v", id, err)
	}
	return c
}

// linked creates company co with one connection conn linked to agent.
func (f *fixture) linked(co, conn, agent string) {
	f.Helper()
	f.company(co, 0)
	f.connection(co, conn, store.Linked, agent)
}

// queue queues a dataset requested at(sec) with sync order 0.
func (f *fixture) queue(co, conn, id string, dt dataset.DataType, sec int) store.Dataset {
	f.Helper()
	return f.queueOrder(co, conn, id, dt, 0, sec)
}

func (f *fixture) queueOrder(co, conn, id string, dt dataset.DataType, order, sec int) store.Dataset {
	f.Helper()
	d, err := f.s.QueueDataset(f.ctx, store.QueueRequest{
		ID: id, CompanyID: co, ConnectionID: conn, DataType: dt, SyncOrder: order,
		Now: at(sec), Message: "queued by test",
	})
	if err != nil {
		f.Fatalf("QueueDataset(%s): %v", id, err)
	}
	return d.Dataset
}

// claim claims dataset id for agent under lease at(sec).
func (f *fixture) claim(id, agent, lease string, sec int) store.Dataset {
	f.Helper()
	d, err := f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: id, AgentID: agent, LeaseID: lease, Now: at(sec), TTL: ttl})
	if err != nil {
		f.Fatalf("Claim(%s, %s): %v", id, agent, err)
	}
	return d
}

// report applies r, which must succeed.
func (f *fixture) report(r store.Report) store.Dataset {
	f.Helper()
	d, err := f.s.Report(f.ctx, r)
	if err != nil {
		f.Fatalf("Report(%s to %s): %v", r.DatasetID, r.To, err)
	}
	return d
}

// agentReport is agent's report under lease of dataset id at(sec).
func agentReport(co, id, agent, lease string, to dataset.Status, sec int) store.Report {
	return store.Report{
		CompanyID: co, DatasetID: id, LeaseID: lease, Actor: agent, To: to, Now: at(sec),
		Message: fmt.Sprintf("%s by %s", to, agent),
	}
}

// coordReport is the coordinator's report on dataset id at(sec).
func coordReport(co, id string, to dataset.Status, sec int) store.Report {
	return store.Report{
		CompanyID: co, DatasetID: id, Actor: store.ActorCoordinator, To: to, Now: at(sec),
		Message: fmt.Sprintf("%s by coordinator", to),
	}
}

// complete drives a Queued dataset on a connection of agent through every
// stage to Complete, starting at(sec) and one second per step.
func (f *fixture) complete(co, id, agent string, sec int) store.Dataset {
	f.Helper()
	lease := "lease-" + id
	f.claim(id, agent, lease, sec)
	f.report(agentReport(co, id, agent, lease, dataset.Mapping, sec+1))
	f.report(coordReport(co, id, dataset.Validating, sec+2))
	f.report(coordReport(co, id, dataset.Processing, sec+3))
	return f.report(coordReport(co, id, dataset.Complete, sec+4))
}

// fail drives a Queued dataset to FetchError through the agent at(sec).
func (f *fixture) fail(co, id, agent string, sec int) store.Dataset {
	f.Helper()
	lease := "lease-" + id
	f.claim(id, agent, lease, sec)
	return f.report(agentReport(co, id, agent, lease, dataset.FetchError, sec+1))
}

// dataset reads a dataset, which must exist.
func (f *fixture) dataset(co, id string) store.Dataset {
	f.Helper()
	d, err := f.s.Dataset(f.ctx, co, id)
	if err != nil {
		f.Fatalf("Dataset(%s): %v", id, err)
	}
	return d
}

// wantErr fails unless err is (or wraps) want.
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// noErr fails the test now on an error.
func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eq fails unless got equals want.
func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// eqTime fails unless got is the same instant as want, in UTC.
func eqTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s: got %v, want %v (UTC)", what, got, want)
	}
}

// ids returns the ids of datasets, in order.
func ids(ds []store.Dataset) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// eqIDs fails unless the datasets have exactly the ids want, in order.
func eqIDs(t testing.TB, what string, ds []store.Dataset, want ...string) {
	t.Helper()
	if got := fmt.Sprint(ids(ds)); got != fmt.Sprint(want) {
		t.Errorf("%s: got %s, want %v", what, got, want)
	}
}

// checkTimeline fails unless d's timeline is want, entry for entry. A want
// entry with a zero At accepts any time that is not zero (transitions made
// by calls that carry no time of their own).
func checkTimeline(t testing.TB, d store.Dataset, want ...store.Transition) {
	t.Helper()
	if len(d.Timeline) != len(want) {
		t.Errorf("dataset %s timeline: got %d entries %+v, want %d", d.ID, len(d.Timeline), d.Timeline, len(want))
		return
	}
	for i, w := range want {
		g := d.Timeline[i]
		what := fmt.Sprintf("dataset %s timeline[%d]", d.ID, i)
		if w.At.IsZero() {
			if g.At.IsZero() {
				t.Errorf("%s: time is zero", what)
			}
		} else {
			eqTime(t, what+" at", g.At, w.At)
		}
		eq(t, what+" from", g.From, w.From)
		eq(t, what+" to", g.To, w.To)
		eq(t, what+" actor", g.Actor, w.Actor)
		eq(t, what+" attempt", g.Attempt, w.Attempt)
		if w.Message != "" {
			eq(t, what+" message", g.Message, w.Message)
		}
	}
}
