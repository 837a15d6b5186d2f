package api

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestWebhookConsumers(t *testing.T) {
	e := newEnv(t)
	var created webhookView
	body := e.must(201, "POST", "/webhooks", map[string]any{
		"url": "https://hooks.example.com/ferry", "eventTypes": []string{"read.completed", "connection.created"},
	}, &created)
	checkSchema(t, "WebhookConsumer", body)
	if created.ID == "" || len(created.Secret) < 40 || created.Disabled {
		t.Fatalf("created consumer: %s", body)
	}
	var one webhookView
	body = e.must(200, "GET", "/webhooks/"+created.ID, nil, &one)
	checkSchema(t, "WebhookConsumer", body)
	if one.Secret != "" {
		t.Errorf("GET shows the secret")
	}
	var list struct{ Results []webhookView }
	body = e.must(200, "GET", "/webhooks", nil, &list)
	checkSchema(t, "WebhookConsumers", body)
	if len(list.Results) != 1 || list.Results[0].Secret != "" {
		t.Errorf("list: %s", body)
	}
	// The delivery log of a connection.created event.
	co := e.company("Acme")
	e.connection(co, "gnucash")
	due, err := e.st.DueDeliveries(t.Context(), time.Now().Add(time.Hour), 0)
	if err != nil || len(due) != 1 || due[0].Event.Type != store.EventConnectionCreated {
		t.Fatalf("outbox after a connection was created: %v, %v", due, err)
	}
	a := store.DeliveryAttempt{WebhookID: created.ID, EventID: due[0].Event.ID, EventType: due[0].Event.Type,
		Attempt: 1, At: e.clock.Now(), StatusCode: 200, Outcome: store.OutcomeDelivered}
	if err := e.st.DeliveryDone(t.Context(), due[0], a); err != nil {
		t.Fatal(err)
	}
	body = e.must(200, "GET", "/webhooks/"+created.ID+"/deliveries", nil, nil)
	checkSchema(t, "WebhookDeliveries", body)

	e.must(204, "DELETE", "/webhooks/"+created.ID, nil, nil)
	status, out := e.call("GET", "/webhooks/"+created.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("DELETE", "/webhooks/"+created.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/webhooks/"+created.ID+"/deliveries", nil)
	e.apiError(status, out, 404, CodeNotFound)
}

// TestWebhookURLRefused: only http(s), and, with private addresses not
// allowed (the default), no loopback, private or link-local address.
func TestWebhookURLRefused(t *testing.T) {
	e := newEnv(t) // private addresses not allowed: the default
	for _, url := range []string{
		"ftp://hooks.example.com/", "file:///etc/passwd", "hooks.example.com", "gopher://x/",
		"http://127.0.0.1:8080/", "http://localhost/hook", "http://10.0.0.5/", "http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]:80/", "http://[fe80::1]/",
	} {
		status, out := e.call("POST", "/webhooks", map[string]any{"url": url, "eventTypes": []string{"read.completed"}})
		e.apiError(status, out, 400, CodeInvalidField, "url")
	}
	status, out := e.call("POST", "/webhooks", map[string]any{"url": "https://ok.example.com", "eventTypes": []string{"dataset.exploded"}})
	e.apiError(status, out, 400, CodeInvalidField, "eventTypes")
	status, out = e.call("POST", "/webhooks", map[string]any{"url": "https://ok.example.com"})
	e.apiError(status, out, 400, CodeInvalidField, "eventTypes")
	status, out = e.call("POST", "/webhooks", map[string]any{"url": "https://ok.example.com", "eventTypes": []string{"read.completed"},
		"companyTags": []string{"no colon"}})
	e.apiError(status, out, 400, CodeInvalidField, "companyTags")
	var tagged webhookView
	body := e.must(201, "POST", "/webhooks", map[string]any{"url": "https://ok.example.com", "eventTypes": []string{"read.completed"},
		"companyTags": []string{"region:uk"}}, &tagged)
	checkSchema(t, "WebhookConsumer", body)
	if len(tagged.CompanyTags) != 1 {
		t.Errorf("companyTags not kept: %s", body)
	}
	// Allowed by the switch, as the tests' receivers on loopback need.
	allowing := New(Config{Store: e.st, Queuer: e.q, Agents: noAgents{}, Logger: e.srv.log, Now: e.clock.Now, WebhookAllowPrivate: true})
	hs := httptest.NewServer(allowing)
	defer hs.Close()
	private := *e
	private.url = hs.URL
	private.must(201, "POST", "/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook", "eventTypes": []string{"read.completed"}}, nil)
	// A support key may read but not create.
	status, out = e.callWith("Bearer "+supportKey(t, e), "POST", "/webhooks",
		map[string]any{"url": "https://ok.example.com", "eventTypes": []string{"read.completed"}})
	e.apiError(status, out, 403, CodeForbidden)
}

func supportKey(t *testing.T, e *env) string {
	t.Helper()
	if err := EnsureKey(t.Context(), e.st, "support-key-for-webhooks", "support", store.ScopeSupport, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return "support-key-for-webhooks"
}
