package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestReplicasSyncToComplete: a sync queued through A's API is offered to
// the agent connected to B, which claims it, uploads it and commits it on
// B; A's API then shows it Complete and serves its records.
func TestReplicasSyncToComplete(t *testing.T) { onBackends(t, testReplicasSyncToComplete) }

func testReplicasSyncToComplete(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	key := testConfig(t).AdminKey
	cred := storedAgent(t, a, "agent-1")
	var co struct{ ID string }
	if code := apiCall(t, a, key, "POST", "/companies", map[string]any{"name": "Acme"}, &co); code != 200 {
		t.Fatalf("create company: %d", code)
	}
	conn := store.Connection{ID: "conn-1", CompanyID: co.ID, PlatformKey: "csv", Status: store.Linked, Created: time.Now(), AgentID: "agent-1"}
	if err := a.Store.CreateConnection(t.Context(), conn, store.LinkCode{Hash: []byte("code-hash"), CompanyID: co.ID,
		ConnectionID: conn.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	onB := connectAgent(t, b, cred, conn.ID)

	var ds struct{ ID string }
	if code := apiCall(t, a, key, "POST", "/companies/"+co.ID+"/data/queue/"+string(dataset.Company), nil, &ds); code != 200 || ds.ID == "" {
		t.Fatalf("queue through A: %d %q", code, ds.ID)
	}
	read := func(what string, match func(protocol.Message) bool) protocol.Message {
		t.Helper()
		_ = onB.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var m protocol.Message
			if err := onB.ReadJSON(&m); err != nil {
				t.Fatalf("waiting on B for %s: %v", what, err)
			}
			if match(m) {
				return m
			}
		}
	}
	read("the offer", func(m protocol.Message) bool { return m.Type == protocol.TypeOffer && m.Offer.DatasetID == ds.ID })
	send(t, onB, protocol.Message{Type: protocol.TypeClaim, ID: "claim", Claim: &protocol.Claim{DatasetID: ds.ID}})
	m := read("the claim's reply", func(m protocol.Message) bool { return m.ReplyTo == "claim" })
	if m.Type != protocol.TypeClaimed {
		t.Fatalf("claim on B: %+v", m)
	}
	lease := m.Claimed.LeaseID
	send(t, onB, protocol.Message{Type: protocol.TypeReport, ID: "mapping", Report: &protocol.Report{
		CompanyID: co.ID, DatasetID: ds.ID, LeaseID: lease, To: dataset.Mapping}})
	if m := read("the report's reply", func(m protocol.Message) bool { return m.ReplyTo == "mapping" }); m.Type != protocol.TypeAck {
		t.Fatalf("report Mapping on B: %+v", m)
	}

	raw := []byte(`{"id":"acme","companyName":"Acme Ltd"}` + "\n")
	var page bytes.Buffer
	zw := gzip.NewWriter(&page)
	zw.Write(raw)
	zw.Close()
	if code, out := agentCall(t, b, cred, "PUT", protocol.PagePath(ds.ID, 1), page.Bytes(), map[string]string{
		protocol.LeaseHeader: lease, protocol.RecordsHeader: "1", protocol.PageBytesHeader: strconv.Itoa(len(raw)),
		"Content-Type": protocol.PageContentType, "Content-Encoding": "gzip"}); code != 200 {
		t.Fatalf("page on B: %d %s", code, out)
	}
	sum := sha256.Sum256(raw)
	commit, _ := json.Marshal(protocol.CommitRequest{LeaseID: lease, Pages: 1, Records: 1, SHA256: hex.EncodeToString(sum[:])})
	if code, out := agentCall(t, b, cred, "POST", protocol.CommitPath(ds.ID), commit, nil); code != 200 {
		t.Fatalf("commit on B: %d %s", code, out)
	}

	var d struct{ Status dataset.Status }
	waitFor(t, "the sync Complete through A", func() bool {
		apiCall(t, a, key, "GET", "/companies/"+co.ID+"/data/history/"+ds.ID, nil, &d)
		return d.Status.Terminal()
	})
	if d.Status != dataset.Complete {
		t.Fatalf("the sync through A: %s, want Complete", d.Status)
	}
	var rec struct{ CompanyName string }
	if code := apiCall(t, a, key, "GET", "/companies/"+co.ID+"/data/company/acme", nil, &rec); code != 200 || rec.CompanyName != "Acme Ltd" {
		t.Errorf("the record through A: %d %+v, want Acme Ltd", code, rec)
	}
}

// send writes m on an agent's control channel.
func send(t *testing.T, ws *websocket.Conn, m protocol.Message) {
	t.Helper()
	if err := ws.WriteJSON(m); err != nil {
		t.Fatal(err)
	}
}

// agentCall calls an agent endpoint of srv with an agent's credential and
// returns the status and body.
func agentCall(t *testing.T, srv *Server, cred, method, path string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+srv.Addr()+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cred)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
