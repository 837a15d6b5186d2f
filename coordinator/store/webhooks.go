package store

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The webhook event types.
const (
	EventReadCompleted          = "read.completed"
	EventReadCompletedInitial   = "read.completed.initial"
	EventConnectionCreated      = "connection.created"
	EventConnectionConnected    = "connection.connected"
	EventConnectionDisconnected = "connection.disconnected"
	EventConnectionReconnected  = "connection.reconnected"
	EventConnectionDeleted      = "connection.deleted"
	EventConnectionFailed       = "connection.failed"
	// Ferry's own, for support.
	EventAgentOffline            = "agent.offline"
	EventAgentOnline             = "agent.online"
	EventConnectionErrorRaised   = "connection.error.raised"
	EventConnectionErrorResolved = "connection.error.resolved"
	// An agent's update steps (its Update* agent events), one event per
	// connection it serves.
	EventAgentUpdateStarted    = "agent.update.started"
	EventAgentUpdateSucceeded  = "agent.update.succeeded"
	EventAgentUpdateFailed     = "agent.update.failed"
	EventAgentUpdateRolledBack = "agent.update.rolledBack"
)

// EventTypes lists every webhook event type.
var EventTypes = []string{
	EventReadCompleted, EventReadCompletedInitial, EventConnectionCreated, EventConnectionConnected, EventConnectionDisconnected,
	EventConnectionReconnected, EventConnectionDeleted, EventConnectionFailed,
	EventAgentOffline, EventAgentOnline, EventConnectionErrorRaised, EventConnectionErrorResolved,
	EventAgentUpdateStarted, EventAgentUpdateSucceeded, EventAgentUpdateFailed, EventAgentUpdateRolledBack,
}

// MaxWebhooks is how many webhook consumers a client may have, as Codat.
const MaxWebhooks = 50

// Webhook is a webhook consumer: Codat's WebhookConsumer, with Ferry's
// signing secret.
type Webhook struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	Disabled   bool     `json:"disabled"`
	EventTypes []string `json:"eventTypes"`
	// CompanyTags, when set, limits the consumer to events of companies
	// with one of these tags ("key:value"), as Codat's companyTags.
	CompanyTags []string `json:"companyTags,omitempty"`
	// Secret signs the deliveries (HMAC-SHA256); it is shown to the client
	// once, when the consumer is created.
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
	// FailingSince is when the consumer's deliveries started failing
	// without a success since; zero when it is healthy.
	FailingSince   time.Time `json:"failingSince,omitzero"`
	DisabledReason string    `json:"disabledReason,omitempty"`
}

// Subscribed reports whether the consumer wants events of type t.
func (w Webhook) Subscribed(t string) bool {
	for _, et := range w.EventTypes {
		if et == t {
			return true
		}
	}
	return false
}

// WantsCompany reports whether the consumer's company tags let through an
// event of a company with tags.
func (w Webhook) WantsCompany(tags map[string]string) bool {
	if len(w.CompanyTags) == 0 {
		return true
	}
	for _, t := range w.CompanyTags {
		k, v, _ := strings.Cut(t, ":")
		if got, ok := tags[k]; ok && got == v {
			return true
		}
	}
	return false
}

// WebhookEvent is one event in the outbox: what happened, enough to render
// its payload whenever it is delivered.
type WebhookEvent struct {
	// ID is stable: every delivery and retry of the event carries it, so a
	// receiver can drop duplicates.
	ID        string    `json:"id"`
	Type      string    `json:"eventType"`
	Generated time.Time `json:"generatedDate"`

	CompanyID        string           `json:"companyId"`
	CompanyName      string           `json:"companyName,omitempty"`
	ConnectionID     string           `json:"connectionId,omitempty"`
	PlatformKey      string           `json:"platformKey,omitempty"`
	ConnectionStatus ConnectionStatus `json:"connectionStatus,omitempty"`
	AgentID          string           `json:"agentId,omitempty"`
	// A read.completed event's dataset.
	DatasetID string `json:"datasetId,omitempty"`
	DataType  string `json:"dataType,omitempty"`
	Status    string `json:"status,omitempty"`
	Message   string `json:"message,omitempty"`
	// Reads are a read.completed.initial event's datasets: those its
	// connection's first link queued, each with its terminal status.
	Reads []DatasetRead `json:"reads,omitempty"`
	// Error is the error a connection.error.*, agent.offline or
	// agent.online event is about.
	Error *ConnectionError `json:"error,omitempty"`
	// ConnectionErrors are the connection's Active errors at the change
	// (rules.Deliveries fills them in).
	ConnectionErrors []ConnectionError `json:"connectionErrors,omitempty"`
	// Update is an agent.update.* event's report.
	Update *AgentUpdate `json:"update,omitempty"`
}

// DatasetRead is one dataset of a read.completed.initial event.
type DatasetRead struct {
	DatasetID string `json:"datasetId"`
	DataType  string `json:"dataType"`
	Status    string `json:"status"`
}

// Delivery is one event due to one consumer.
type Delivery struct {
	WebhookID string       `json:"webhookId"`
	Event     WebhookEvent `json:"event"`
	// Attempt is how many attempts were made before this one.
	Attempt int       `json:"attempt"`
	Due     time.Time `json:"due"`
}

// Delivery outcomes, in the delivery log.
const (
	OutcomeDelivered = "Delivered"
	OutcomeRetrying  = "Retrying"
	OutcomeDropped   = "Dropped"
)

// DeliveryAttempt is one entry of a consumer's delivery log.
type DeliveryAttempt struct {
	WebhookID  string    `json:"webhookId"`
	EventID    string    `json:"eventId"`
	EventType  string    `json:"eventType"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"`
	Error      string    `json:"error,omitempty"`
	Outcome    string    `json:"outcome"`
	// NextAttempt is when a Retrying delivery is tried again.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

func SortWebhooks(ws []Webhook) {
	slices.SortStableFunc(ws, func(a, b Webhook) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
}

// eventNamespace makes the ids of the store's own events: the same cause
// always gives the same id.
var eventNamespace = uuid.MustParse("2f0e4a55-6a1c-4d0b-9a43-5d8c0f5e7a10")

// EventID is the stable id of the event of type t about subject.
func EventID(t, subject string) string {
	return uuid.NewSHA1(eventNamespace, []byte(t+"/"+subject)).String()
}

// DeliveryLogRetention is how long a consumer's delivery log keeps an
// attempt: each new attempt deletes the ones older than that.
const DeliveryLogRetention = 30 * 24 * time.Hour
