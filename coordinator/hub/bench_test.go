package hub

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// The benchmarks print figures and assert none: wall-clock times depend on
// the machine. Run them with
//
//	go test -run '^$' -bench . -benchtime 20x ./coordinator/hub/

// benchHub is a hub on a loopback port over a real Badger store (writes
// synced, as in production), usable from benchmarks, with one company.
type benchHub struct {
	tb  testing.TB
	st  *badgerstore.Badger
	hub *Hub
	q   *queue.Queuer
	url string
	co  string
}

func newBenchHub(tb testing.TB) *benchHub {
	tb.Helper()
	return newBenchHubWith(tb, nil)
}

// newBenchHubWith is newBenchHub with the hub's Config changed by edit
// first.
func newBenchHubWith(tb testing.TB, edit func(*Config)) *benchHub {
	tb.Helper()
	st, err := badgerstore.Open(tb.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	q := queue.New(st)
	// A long lease keeps heartbeat timeouts (3 × LeaseTTL/4) out of a long
	// run: the raw clients below send none.
	pub := publish.New(publish.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	cfg := Config{Store: st, Queuer: q, Publisher: pub, Feed: st.Feed(), Logger: slog.New(slog.DiscardHandler), LeaseTTL: time.Hour}
	if edit != nil {
		edit(&cfg)
	}
	h := New(cfg)
	if err := h.Start(); err != nil {
		st.Close()
		tb.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		h.Close()
		st.Close()
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	tb.Cleanup(func() {
		h.Close()
		pub.Close()
		srv.Close()
		st.Close()
	})
	bh := &benchHub{tb: tb, st: st, hub: h, q: q, url: srv.URL, co: "co-bench"}
	if err := st.CreateCompany(context.Background(), store.Company{ID: bh.co, Name: "Acme", Created: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	return bh
}

// benchLink is one agent bound to its own Linked connection.
type benchLink struct {
	agentID, connID, cred string
}

// link creates n agents, each bound to its own Linked connection, in the
// store directly: no link codes to redeem, no first-link datasets queued.
// The writes run from several goroutines so that their disk syncs are
// shared.
func (bh *benchHub) link(n int) []benchLink {
	bh.tb.Helper()
	links := make([]benchLink, n)
	for i := range links {
		links[i] = benchLink{
			agentID: fmt.Sprintf("agent-%05d", i),
			connID:  fmt.Sprintf("conn-%05d", i),
			cred:    fmt.Sprintf("fra_bench_%05d_%s", i, uuid.NewString()),
		}
	}
	err := parallel(n, 32, func(i int) error {
		l, now := links[i], time.Now()
		// Hostname, OS and version as the hello says them: the handshake
		// then writes nothing to the agent.
		a := store.Agent{ID: l.agentID, CredentialHash: HashCredential(l.cred), Created: now,
			Hostname: "bench", OS: "linux", Version: "bench"}
		if err := bh.st.CreateAgent(context.Background(), a); err != nil {
			return err
		}
		code := sha256.Sum256([]byte("code:" + l.connID))
		c := store.Connection{ID: l.connID, CompanyID: bh.co, PlatformKey: "csv", Status: store.Linked,
			AgentID: l.agentID, Created: now}
		return bh.st.CreateConnection(context.Background(), c, store.LinkCode{Hash: code[:]})
	})
	if err != nil {
		bh.tb.Fatal(err)
	}
	return links
}

// parallel calls fn(0..n-1) from at most workers goroutines and returns
// the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// arrival is a message and when the client's reader got it off the wire.
type arrival struct {
	at time.Time
	m  protocol.Message
}

// benchAgent is a raw protocol client whose reader goroutine, owned by the
// benchmark, stamps each message on arrival: offers go to offers, answers
// (claimed, ack, error) to replies.
type benchAgent struct {
	ws      *websocket.Conn
	offers  chan arrival
	replies chan arrival
}

// connect dials one client per link, in parallel, says hello and waits
// for the welcome, then starts the readers. Cleanup closes the clients
// and waits for their readers.
func (bh *benchHub) connect(links []benchLink) []*benchAgent {
	bh.tb.Helper()
	agents := make([]*benchAgent, len(links))
	err := parallel(len(links), 32, func(i int) error {
		a, err := bh.dial(links[i])
		agents[i] = a
		return err
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	bh.tb.Cleanup(func() {
		close(done)
		for _, a := range agents {
			if a != nil {
				a.ws.Close()
			}
		}
		wg.Wait()
	})
	if err != nil {
		bh.tb.Fatal(err)
	}
	// Wait until the hub counts every client online.
	for deadline := time.Now().Add(10 * time.Second); len(bh.hub.online()) < len(links); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			bh.tb.Fatalf("%d agents online, want %d", len(bh.hub.online()), len(links))
		}
	}
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.read(done) }()
	}
	return agents
}

func (bh *benchHub) dial(l benchLink) (*benchAgent, error) {
	hdr := http.Header{"Authorization": {"Bearer " + l.cred}}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(bh.url, "http")+protocol.ConnectPath, hdr)
	if err != nil {
		return nil, fmt.Errorf("dial as %s: %w", l.agentID, err)
	}
	a := &benchAgent{ws: ws, offers: make(chan arrival, 64), replies: make(chan arrival, 64)}
	err = ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "bench", OS: "linux", AgentVersion: "bench",
		Bindings: []protocol.Binding{{ConnectionID: l.connID, DataTypes: dataset.DataTypes}}, Capacity: 2}})
	if err == nil {
		var m protocol.Message
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err = ws.ReadJSON(&m); err == nil && m.Type != protocol.TypeWelcome {
			err = fmt.Errorf("got %s, want welcome", m.Type)
		}
		_ = ws.SetReadDeadline(time.Time{})
	}
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("hello as %s: %w", l.agentID, err)
	}
	return a, nil
}

// read stamps and routes messages until the connection closes or done.
func (a *benchAgent) read(done <-chan struct{}) {
	for {
		_, raw, err := a.ws.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		m, err := protocol.Decode(raw)
		if err != nil {
			continue
		}
		ch := a.replies
		if m.Type == protocol.TypeOffer {
			ch = a.offers
		}
		select {
		case ch <- arrival{at: at, m: m}:
		case <-done:
			return
		}
	}
}

// await returns the first arrival on ch that match accepts, dropping
// others; it fails the benchmark after 10 s.
func await(tb testing.TB, ch <-chan arrival, what string, match func(protocol.Message) bool) arrival {
	tb.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case a := <-ch:
			if match(a.m) {
				return a
			}
		case <-timeout.C:
			tb.Fatalf("no %s within 10 s", what)
		}
	}
}

// BenchmarkDispatchLatency measures, per queued dataset, the time from just
// before queuer.Queue to the offer's arrival at the agent's client, with
// one and with 1000 agents online (each on its own connection). Beside it
// stand what it is made of at the least: a raw websocket round trip on the
// same loopback and one durable Badger write (CreateCompany) in the same
// store. Also reported: how long Queue itself takes (its durable write
// included), a claim's round trip (a durable write too) and Notify's walk
// over the online agents.
func BenchmarkDispatchLatency(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) { benchDispatch(b, n) })
	}
}

func benchDispatch(b *testing.B, n int) {
	bh := newBenchHub(b)
	links := bh.link(n)
	agents := bh.connect(links)
	ctx := context.Background()
	var dispatch, queueCall, claim []time.Duration
	for b.Loop() {
		i := rand.IntN(n)
		a, l := agents[i], links[i]
		start := time.Now()
		ds, err := bh.q.Queue(ctx, bh.co, dataset.Invoices, l.connID, "bench")
		queued := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		offer := await(b, a.offers, "offer of "+ds.ID, func(m protocol.Message) bool { return m.Offer.DatasetID == ds.ID })
		dispatch = append(dispatch, offer.at.Sub(start))
		queueCall = append(queueCall, queued.Sub(start))

		id := uuid.NewString()
		sent := time.Now()
		if err := a.ws.WriteJSON(protocol.Message{Type: protocol.TypeClaim, ID: id, Claim: &protocol.Claim{DatasetID: ds.ID}}); err != nil {
			b.Fatal(err)
		}
		reply := await(b, a.replies, "answer to claim", func(m protocol.Message) bool { return m.ReplyTo == id })
		if reply.m.Type != protocol.TypeClaimed {
			b.Fatalf("claim answered %+v", reply.m)
		}
		claim = append(claim, reply.at.Sub(sent))
		// End it in the store, not over the websocket: an agent's report of
		// a terminal status kicks the offer loop, whose store read would
		// overlap the next iteration.
		_, err = bh.st.Report(ctx, store.Report{CompanyID: bh.co, DatasetID: ds.ID, LeaseID: reply.m.Claimed.LeaseID,
			Actor: l.agentID, To: dataset.FetchError, Message: "bench", Now: time.Now().UTC()})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportLatencies(b, "", dispatch)
	reportLatencies(b, "queue-", queueCall)
	reportLatencies(b, "claim-", claim)
	reportLatencies(b, "ws-rtt-", wsRoundTrips(b, 1000))
	reportLatencies(b, "write-", durableWrites(b, bh.st, 200))
	reportLatencies(b, "notify-", notifies(bh.hub, 1000))
}

// notifies times n calls of Notify for a connection no agent serves: the
// walk over the online agents that every Queue makes.
func notifies(h *Hub, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		h.Notify("conn-none")
		out = append(out, time.Since(start))
	}
	return out
}

// reportLatencies reports the nearest-rank p50 and p99, and for the
// dispatch itself the max, in microseconds. With 20 samples p99 is the max.
func reportLatencies(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	rank := func(p float64) float64 {
		i := min(max(int(math.Ceil(p*float64(len(ds))))-1, 0), len(ds)-1)
		return float64(ds[i].Nanoseconds()) / 1e3
	}
	b.ReportMetric(rank(0.50), prefix+"p50-µs")
	b.ReportMetric(rank(0.99), prefix+"p99-µs")
	if prefix == "" {
		b.ReportMetric(rank(1), "max-µs")
	}
}

// wsRoundTrips measures n round trips of an offer-sized text message to a
// gorilla echo server on the loopback.
func wsRoundTrips(b *testing.B, n int) []time.Duration {
	b.Helper()
	var handlers sync.WaitGroup
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		handlers.Add(1)
		defer handlers.Done()
		defer ws.Close()
		for {
			kind, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(kind, msg); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer handlers.Wait()
	defer ws.Close()
	msg, _ := json.Marshal(protocol.Message{Type: protocol.TypeOffer, ID: uuid.NewString(), Offer: &protocol.Offer{
		DatasetID: uuid.NewString(), CompanyID: "co-bench", ConnectionID: "conn-00000", DataType: dataset.Invoices}})
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// durableWrites times n CreateCompany calls, one synced Badger
// transaction each.
func durableWrites(b *testing.B, st *badgerstore.Badger, n int) []time.Duration {
	b.Helper()
	out := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		err := st.CreateCompany(context.Background(), store.Company{ID: fmt.Sprintf("co-write-%d", i), Name: "x", Created: start})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// Upload and processing.
const (
	benchRecords     = 100_000
	benchPageRecords = 1000
)

// benchPages builds the gzip NDJSON pages of benchRecords invoices of about
// 300 bytes each, and the commit's checksum and uncompressed size.
func benchPages() (pages []benchPage, sum string, raw int) {
	h := sha256.New()
	var line []byte
	for p := range benchRecords / benchPageRecords {
		var nd bytes.Buffer
		for r := range benchPageRecords {
			i := p*benchPageRecords + r
			line = benchInvoice(line[:0], i)
			nd.Write(line)
		}
		h.Write(nd.Bytes())
		raw += nd.Len()
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(nd.Bytes())
		zw.Close()
		pages = append(pages, benchPage{gzip: gz.Bytes(), size: nd.Len()})
	}
	return pages, hex.EncodeToString(h.Sum(nil)), raw
}

// benchPage is a page as the agent sends it: gzipped, with its size.
type benchPage struct {
	gzip []byte
	size int // uncompressed (protocol.PageBytesHeader)
}

// benchInvoice appends invoice i as one NDJSON line: amounts are exact
// decimals in strings, varied so that pages compress as real ones do.
func benchInvoice(dst []byte, i int) []byte {
	cents := 1000 + (i*7919)%900000
	tax := cents / 5
	day := 1 + i%28
	return fmt.Appendf(dst, `{"id":"inv-%07d","invoiceNumber":"INV-%07d","customerRef":{"id":"cus-%05d","companyName":"Customer %d Ltd"},`+
		`"issueDate":"2026-01-%02dT00:00:00Z","dueDate":"2026-02-%02dT00:00:00Z","currency":"GBP",`+
		`"subTotal":"%d.%02d","totalTaxAmount":"%d.%02d","totalAmount":"%d.%02d","amountDue":"%d.%02d","status":"Submitted"}`+"\n",
		i, i, i%5000, i%5000, day, day,
		cents/100, cents%100, tax/100, tax%100, (cents+tax)/100, (cents+tax)%100, (cents+tax)/100, (cents+tax)%100)
}

// BenchmarkUploadAndProcess uploads 100,000 invoices per iteration in
// pages of 1000, protocol.PagesInFlight PUTs in flight as the agent
// keeps them (agent/upload.PageWriter), each declaring its size, commits
// once every page is answered, and
// waits for the dataset to be Complete: each iteration a new dataset of
// the same type, replacing the cache. It reports records/s end to end and
// for each part: upload (pages and commit) and processing (validation and
// publishing to the cache), and end to end beside a Badger WriteBatch of
// the same records measured in the same run.
func BenchmarkUploadAndProcess(b *testing.B) {
	bh := newBenchHub(b)
	l := bh.link(1)[0]
	pages, sum, raw := benchPages()
	tr := &http.Transport{MaxIdleConnsPerHost: protocol.PagesInFlight}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	b.SetBytes(int64(raw))
	// The parts: pages, the commit call (which reads the pages back to
	// check them), Validating (to Processing first seen) and Processing
	// (to Complete), as seen by polling every millisecond.
	var pagesT, commitT, validateT, publishT time.Duration
	for b.Loop() {
		b.StopTimer()
		ds, lease := bh.mapping(l)
		b.StartTimer()
		start := time.Now()
		if err := bh.putPages(client, ds, l, lease, pages); err != nil {
			b.Fatal(err)
		}
		uploaded := time.Now()
		commit, _ := json.Marshal(protocol.CommitRequest{LeaseID: lease, Pages: len(pages), Records: benchRecords, SHA256: sum})
		bh.do(client, http.MethodPost, protocol.CommitPath(ds), l, lease, commit)
		committed := time.Now()
		validated := bh.waitComplete(ds)
		if validated.Before(committed) {
			validated = committed
		}
		done := time.Now()
		pagesT += uploaded.Sub(start)
		commitT += committed.Sub(uploaded)
		validateT += validated.Sub(committed)
		publishT += done.Sub(validated)
	}
	upload, process := pagesT+commitT, validateT+publishT
	records := float64(benchRecords * b.N)
	limit := writeBatchLimit(b)
	b.ReportMetric(records/(upload+process).Seconds(), "records/s")
	b.ReportMetric(limit, "writebatch-records/s")
	b.ReportMetric(records/(upload+process).Seconds()/limit, "records/writebatch")
	b.ReportMetric(records/upload.Seconds(), "upload-records/s")
	b.ReportMetric(records/process.Seconds(), "process-records/s")
	perOp := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	b.ReportMetric(perOp(pagesT), "pages-ms/op")
	b.ReportMetric(perOp(commitT), "commit-ms/op")
	b.ReportMetric(perOp(validateT), "validate-ms/op")
	b.ReportMetric(perOp(publishT), "publish-ms/op")
	b.ReportMetric(float64(raw)/benchRecords, "B/record")
}

// writeBatchLimit writes the benchmark's invoices, keyed as the cache
// keys them, in one Badger WriteBatch into a new database opened as the
// store opens its own, and returns records per second: the limit of
// records into the cache on this machine now.
func writeBatchLimit(b *testing.B) float64 {
	db, err := badger.Open(badgerstore.Options(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	var line []byte
	for i := range benchRecords {
		line = benchInvoice(line[:0], i)
		// A snapshot's prefix is 24 hex digits (badgerstore's snapshotPrefix).
		k := fmt.Appendf(nil, "rs/%024x/%x", 1, fmt.Sprintf("inv-%07d", i))
		if err := wb.Set(k, bytes.Clone(line[:len(line)-1])); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	return benchRecords / time.Since(start).Seconds()
}

// mapping queues an invoices dataset on l's connection and takes it to
// Mapping under a new lease of l's agent, in the store directly.
func (bh *benchHub) mapping(l benchLink) (datasetID, lease string) {
	bh.tb.Helper()
	ctx, now := context.Background(), time.Now().UTC()
	queued, err := bh.st.QueueDataset(ctx, store.QueueRequest{ID: uuid.NewString(), CompanyID: bh.co, ConnectionID: l.connID,
		DataType: dataset.Invoices, Now: now})
	ds := queued.Dataset
	if err == nil {
		ds, err = bh.st.Claim(ctx, store.ClaimRequest{DatasetID: ds.ID, AgentID: l.agentID, LeaseID: uuid.NewString(), Now: now, TTL: time.Hour})
	}
	if err == nil {
		ds, err = bh.st.Report(ctx, store.Report{CompanyID: bh.co, DatasetID: ds.ID, LeaseID: ds.LeaseID, Actor: l.agentID,
			To: dataset.Mapping, Now: now})
	}
	if err != nil {
		bh.tb.Fatal(err)
	}
	return ds.ID, ds.LeaseID
}

// do makes one agent call of the data plane and fails unless it is a 200.
func (bh *benchHub) do(client *http.Client, method, path string, l benchLink, lease string, body []byte) {
	bh.tb.Helper()
	if err := bh.send(client, method, path, l, lease, body, 0); err != nil {
		bh.tb.Fatal(err)
	}
}

// putPages uploads a dataset's pages with protocol.PagesInFlight of them
// in flight at most, as the agent does, and returns the first failure
// once every request has ended.
func (bh *benchHub) putPages(client *http.Client, ds string, l benchLink, lease string, pages []benchPage) error {
	slots := make(chan struct{}, protocol.PagesInFlight)
	errs := make(chan error, len(pages))
	var wg sync.WaitGroup
	for n, p := range pages {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs <- bh.send(client, http.MethodPut, protocol.PagePath(ds, n+1), l, lease, p.gzip, p.size)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// send makes an agent's upload call; size, unless 0, is a page's
// declared size.
func (bh *benchHub) send(client *http.Client, method, path string, l benchLink, lease string, body []byte, size int) error {
	req, err := http.NewRequest(method, bh.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+l.cred)
	req.Header.Set(protocol.LeaseHeader, lease)
	if method == http.MethodPut {
		req.Header.Set("Content-Type", protocol.PageContentType)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set(protocol.RecordsHeader, fmt.Sprint(benchPageRecords))
		if size > 0 {
			req.Header.Set(protocol.PageBytesHeader, strconv.Itoa(size))
		}
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return nil
}

// waitComplete polls the store every millisecond until the dataset is
// Complete, and returns when it first saw it Processing (zero if never);
// another terminal status, or two minutes, fails the benchmark.
func (bh *benchHub) waitComplete(id string) (processing time.Time) {
	bh.tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := bh.st.Dataset(context.Background(), bh.co, id)
		switch {
		case err != nil:
			bh.tb.Fatal(err)
		case d.Status == dataset.Processing && processing.IsZero():
			processing = time.Now()
		case d.Status == dataset.Complete:
			return processing
		case d.Status.Terminal():
			bh.tb.Fatalf("dataset %s ended %s: %s", id, d.Status, d.ErrorMessage)
		case time.Now().After(deadline):
			bh.tb.Fatalf("dataset %s still %s after 2 minutes", id, d.Status)
		}
		time.Sleep(time.Millisecond)
	}
}
