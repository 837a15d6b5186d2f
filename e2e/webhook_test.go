package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// hookReceiver is a client's webhook endpoint, in the test process.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []hookDelivery
	// hold, while not nil, keeps each request unanswered until it is
	// closed or the caller goes away; arrived gets each held request.
	hold    chan struct{}
	arrived chan hookDelivery
}

type hookDelivery struct {
	header http.Header
	body   []byte
	env    struct {
		ID, EventType, GeneratedDate string
		Payload                      json.RawMessage
	}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{arrived: make(chan hookDelivery, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := hookDelivery{header: req.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &d.env)
		r.mu.Lock()
		hold := r.hold
		r.got = append(r.got, d)
		r.mu.Unlock()
		if hold != nil {
			r.arrived <- d
			select {
			case <-hold:
			case <-req.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) deliveries() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookDelivery(nil), r.got...)
}

// verifySignature is the recipe of docs/api.md, written out: HMAC-SHA256 keyed
// with the consumer's secret over "<t>.<raw body>", hex, compared in
// constant time, t within five minutes.
func verifySignature(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := time.Since(time.Unix(sec, 0))
	return hmac.Equal([]byte(sig), []byte(want)) && age < 5*time.Minute && age > -5*time.Minute
}

// createHook creates a consumer of every event type for the receiver and
// returns its secret.
func createHook(t *testing.T, c *coordinator, url string) string {
	t.Helper()
	var h struct{ ID, Secret string }
	body := map[string]any{"url": url, "eventTypes": []string{
		"read.completed", "connection.created", "connection.connected", "connection.disconnected"}}
	if s := c.do("POST", "/webhooks", body, &h); s != 201 || h.Secret == "" {
		t.Fatalf("create webhook: %d %+v", s, h)
	}
	return h.Secret
}

// TestWebhookEvents links and runs a real agent, then stops it: the client's
// receiver gets connection.created, connection.connected, a read.completed
// per data type and connection.disconnected, each signed as docs/api.md
// says.
func TestWebhookEvents(t *testing.T) {
	parallel(t)
	rcv := newHookReceiver(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t), "--webhook-allow-private")
	secret := createHook(t, c, rcv.URL+"/ferry")
	company, conn, code := setupConnection(t, c, "csv")
	config := linkAgent(t, c, code, "csv", sampleCSV)
	agent := runAgent(t, config)
	waitAllComplete(t, c, company, 90*time.Second)
	agent.kill()

	count := func(typ string) int {
		n := 0
		for _, d := range rcv.deliveries() {
			if d.env.EventType == typ {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "every event type", func() bool {
		return count("connection.created") == 1 && count("connection.connected") >= 1 &&
			count("read.completed") >= len(dataset.DataTypes) && count("connection.disconnected") >= 1
	})
	seen := map[string]bool{}
	for _, d := range rcv.deliveries() {
		if !verifySignature(secret, d.header.Get("Ferry-Signature"), d.body) {
			t.Errorf("%s %s: signature does not verify: %q", d.env.EventType, d.env.ID, d.header.Get("Ferry-Signature"))
		}
		if d.env.ID == "" || d.env.GeneratedDate == "" || len(d.env.Payload) == 0 {
			t.Errorf("envelope: %s", d.body)
		}
		if d.env.EventType == "read.completed" {
			var p struct {
				ConnectionID, DataType, Status, DatasetID string
				Links                                     map[string]struct{ Href string } `json:"_links"`
			}
			_ = json.Unmarshal(d.env.Payload, &p)
			if p.Status != "Complete" || p.ConnectionID != conn || seen[p.DataType] {
				t.Errorf("read.completed: %s", d.env.Payload)
			}
			seen[p.DataType] = true
			if want := c.url() + "/companies/" + company + "/sync/" + p.DatasetID + "/validation"; p.Links["validation"].Href != want {
				t.Errorf("validation link %q, want %q", p.Links["validation"].Href, want)
			}
		}
	}
	if verifySignature("not the secret", rcv.deliveries()[0].header.Get("Ferry-Signature"), rcv.deliveries()[0].body) {
		t.Errorf("a wrong secret verifies")
	}
}

// TestWebhookSurvivesKill9: the coordinator is killed with SIGKILL while
// the receiver holds the delivery of connection.created unanswered; after
// a restart on the same data the same event (same id) is delivered again.
func TestWebhookSurvivesKill9(t *testing.T) {
	parallel(t)
	rcv := newHookReceiver(t)
	rcv.hold = make(chan struct{})
	dir, addr := t.TempDir(), freeAddr(t)
	c := startCoordinator(t, dir, addr, "--webhook-allow-private")
	createHook(t, c, rcv.URL)
	_, conn, _ := setupConnection(t, c, "gnucash")
	var first hookDelivery
	select {
	case first = <-rcv.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("connection.created did not arrive")
	}
	if first.env.EventType != "connection.created" || !strings.Contains(string(first.env.Payload), conn) {
		t.Fatalf("first delivery: %s", first.body)
	}
	c.kill()
	rcv.mu.Lock()
	close(rcv.hold)
	rcv.hold = nil
	rcv.mu.Unlock()

	c = startCoordinator(t, dir, addr, "--webhook-allow-private")
	waitFor(t, 30*time.Second, "the event delivered after restart", func() bool {
		return len(rcv.deliveries()) >= 2
	})
	again := rcv.deliveries()[1]
	if again.env.ID != first.env.ID || again.env.EventType != "connection.created" || string(again.env.Payload) != string(first.env.Payload) {
		t.Errorf("after restart: %s, want the same event as %s", again.body, first.body)
	}
	// The receiver answered: the consumer's log says Delivered.
	var log struct {
		Results []struct{ EventID, Outcome string }
	}
	var hooks struct{ Results []struct{ ID string } }
	c.do("GET", "/webhooks", nil, &hooks)
	waitFor(t, 10*time.Second, "the delivery logged", func() bool {
		c.do("GET", "/webhooks/"+hooks.Results[0].ID+"/deliveries", nil, &log)
		return len(log.Results) == 1 && log.Results[0].Outcome == "Delivered" && log.Results[0].EventID == first.env.ID
	})
}

// TestWebhookPrivateRefusedByDefault: a coordinator started without
// --webhook-allow-private refuses a consumer on loopback, with Codat's
// error shape.
func TestWebhookPrivateRefusedByDefault(t *testing.T) {
	parallel(t)
	rcv := newHookReceiver(t)
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	var e struct {
		StatusCode        int
		Error             string
		DetailedErrorCode int
	}
	s := c.do("POST", "/webhooks", map[string]any{"url": rcv.URL, "eventTypes": []string{"connection.created"}}, &e)
	if s != 400 || e.StatusCode != 400 || !strings.Contains(e.Error, "private or loopback") {
		t.Errorf("loopback consumer: %d %+v, want 400 naming the private address", s, e)
	}
}
