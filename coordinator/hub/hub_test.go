package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a hub on a loopback port over a real Badger store, with a company
// and a connection waiting to be linked.
type env struct {
	t     *testing.T
	st    *badgerstore.Badger
	hub   *Hub
	q     *queue.Queuer
	clock *clock
	url   string
	co    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the hub's Config changed by edit first.
func newEnvWith(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	q := queue.New(st)
	q.Now = clk.Now
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pub := publish.New(publish.Config{Store: st, Logger: log, Now: clk.Now})
	cfg := Config{Store: st, Queuer: q, Publisher: pub, Feed: st.Feed(), Logger: log, Now: clk.Now, ExpiryInterval: time.Hour}
	if edit != nil {
		edit(&cfg)
	}
	h := New(cfg)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		pub.Close()
		srv.Close()
		st.Close()
	})
	e := &env{t: t, st: st, hub: h, q: q, clock: clk, url: srv.URL, co: "co-1"}
	if err := st.CreateCompany(t.Context(), store.Company{ID: e.co, Name: "Acme", Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

// connection creates a PendingAuth connection and returns its id and code.
func (e *env) connection(company string) (string, string) {
	e.t.Helper()
	code, hash := linkcode.New()
	id := uuid.NewString()
	c := store.Connection{ID: id, CompanyID: company, PlatformKey: "csv", Status: store.PendingAuth, Created: e.clock.Now(),
		LinkCodeExpires: e.clock.Now().Add(time.Hour)}
	if err := e.st.CreateConnection(e.t.Context(), c, store.LinkCode{Hash: hash, CompanyID: company, ConnectionID: id, Expires: c.LinkCodeExpires}); err != nil {
		e.t.Fatal(err)
	}
	return id, code
}

func (e *env) post(path, auth string, body any) (int, []byte) {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader(raw))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// link exchanges a code and returns the response.
func (e *env) link(code, credential string) protocol.LinkResponse {
	e.t.Helper()
	status, out := e.post(protocol.LinkPath, credential, protocol.LinkRequest{Code: code, PlatformKey: "csv", Hostname: "pc-1", OS: "linux"})
	if status != 200 {
		e.t.Fatalf("link: %d %s", status, out)
	}
	var r protocol.LinkResponse
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// agent is a raw protocol client for tests: it sees every message.
type agent struct {
	t    *testing.T
	ws   *websocket.Conn
	cred string
}

func (e *env) dial(cred string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{"Authorization": {"Bearer " + cred}}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+protocol.ConnectPath, hdr)
}

// connect dials and says hello with the bindings; it returns the welcome.
func (e *env) connect(cred string, bindings []protocol.Binding, leases ...protocol.Lease) (*agent, *protocol.Welcome) {
	e.t.Helper()
	ws, _, err := e.dial(cred)
	if err != nil {
		e.t.Fatal(err)
	}
	a := &agent{t: e.t, ws: ws, cred: cred}
	e.t.Cleanup(func() { ws.Close() })
	a.send(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: bindings, Leases: leases, Capacity: 2}})
	m := a.expect(protocol.TypeWelcome)
	return a, m.Welcome
}

func all(conn string) []protocol.Binding {
	return []protocol.Binding{{ConnectionID: conn, DataTypes: dataset.DataTypes}}
}

func (a *agent) send(m protocol.Message) {
	a.t.Helper()
	if err := a.ws.WriteJSON(m); err != nil {
		a.t.Fatal(err)
	}
}

// expect reads until a message of type want arrives (5 s deadline).
func (a *agent) expect(want protocol.Type) protocol.Message {
	a.t.Helper()
	_ = a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, raw, err := a.ws.ReadMessage()
		if err != nil {
			a.t.Fatalf("waiting for %s: %v", want, err)
		}
		m, err := protocol.Decode(raw)
		if err != nil {
			a.t.Fatalf("coordinator sent a bad message %s: %v", raw, err)
		}
		if m.Type == want {
			return m
		}
	}
}

// reply sends m and waits for the answer to it: an ack, claimed or error.
func (a *agent) reply(m protocol.Message) protocol.Message {
	a.t.Helper()
	a.send(m)
	_ = a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, raw, err := a.ws.ReadMessage()
		if err != nil {
			a.t.Fatalf("waiting for the reply to %s: %v", m.Type, err)
		}
		got, err := protocol.Decode(raw)
		if err != nil {
			a.t.Fatal(err)
		}
		if got.ReplyTo == m.ID {
			return got
		}
	}
}

func (a *agent) claim(id string) protocol.Message {
	return a.reply(protocol.Message{Type: protocol.TypeClaim, ID: uuid.NewString(), Claim: &protocol.Claim{DatasetID: id}})
}

func (a *agent) report(c *protocol.Claimed, to dataset.Status, lease string) protocol.Message {
	return a.reply(protocol.Message{Type: protocol.TypeReport, ID: uuid.NewString(), Report: &protocol.Report{
		CompanyID: c.CompanyID, DatasetID: c.DatasetID, LeaseID: lease, To: to}})
}

// linked links a new connection to a new agent and returns its ids and
// credential; the first-link datasets are queued.
func (e *env) linked() (conn, cred string) {
	e.t.Helper()
	conn, code := e.connection(e.co)
	r := e.link(code, "")
	return conn, r.Credential
}

func (e *env) dataset(id string) store.Dataset {
	e.t.Helper()
	d, err := e.st.Dataset(e.t.Context(), e.co, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// waitStatus waits (with a deadline) for a dataset to reach a status.
func (e *env) waitStatus(id string, want dataset.Status) store.Dataset {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := e.dataset(id)
		if d.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("dataset %s is %s, want %s", id, d.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// page gzips NDJSON records.
func page(t *testing.T, recs ...string) ([]byte, []byte) {
	t.Helper()
	raw := []byte(strings.Join(recs, "\n") + "\n")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	return b.Bytes(), raw
}

func (e *env) putPage(cred, datasetID, lease string, n int, body []byte) (int, []byte) {
	e.t.Helper()
	return e.upload(fmt.Sprintf("%s%s/pages/%d", protocol.DatasetsPath, datasetID, n), cred, lease, body, nil)
}

// upload PUTs a gzip body to path with an agent's credential, its lease
// and headers, and returns the answer.
func (e *env) upload(path, cred, lease string, body []byte, headers map[string]string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "PUT", e.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set(protocol.LeaseHeader, lease)
	req.Header.Set("Content-Encoding", "gzip")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// hugePage is a page of valid records of random hex, over MaxPageBytes
// even compressed.
func hugePage() []byte {
	var huge bytes.Buffer
	hz := gzip.NewWriter(&huge)
	noise := make([]byte, 1500)
	for i := 0; huge.Len() <= protocol.MaxPageBytes; i++ {
		rand.Read(noise)
		fmt.Fprintf(hz, `{"id":"r%d","pad":"%x"}`+"\n", i, noise)
		if i%100 == 0 {
			hz.Flush()
		}
	}
	hz.Close()
	return huge.Bytes()
}

// bombBody is gzip expanding past MaxPageExpandedBytes.
func bombBody() []byte {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte("x"), protocol.MaxPageExpandedBytes+1))
	zw.Close()
	return bomb.Bytes()
}

func (e *env) commit(cred, datasetID string, req protocol.CommitRequest) (int, []byte) {
	return e.post(protocol.DatasetsPath+datasetID+"/commit", cred, req)
}

func checksum(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func code(t *testing.T, out []byte) protocol.Code {
	t.Helper()
	var e protocol.Error
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("not a protocol error: %s", out)
	}
	return e.Code
}
