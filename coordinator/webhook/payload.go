package webhook

import (
	"encoding/json"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/platform"
)

// Envelope is what a consumer receives, Codat's webhook shape.
type Envelope struct {
	ID        string `json:"id"`
	EventType string `json:"eventType"`
	// GeneratedDate is RFC 3339 in UTC with milliseconds, as the API's
	// times.
	GeneratedDate string `json:"generatedDate"`
	Payload       any    `json:"payload"`
}

type companyRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type link struct {
	Href string `json:"href"`
}

// readCompleted is the payload of read.completed: Codat's (referenceCompany,
// dataTypes[]) with Ferry's dataset, status, message and links.
type readCompleted struct {
	ReferenceCompany companyRef      `json:"referenceCompany"`
	DataTypes        []dataTypeRead  `json:"dataTypes"`
	DatasetID        string          `json:"datasetId"`
	ConnectionID     string          `json:"connectionId"`
	DataType         string          `json:"dataType"`
	Status           string          `json:"status"`
	Message          string          `json:"message,omitempty"`
	Links            map[string]link `json:"_links"`
}

// readCompletedInitial is the payload of read.completed.initial: Codat's
// (referenceCompany, dataTypes[]), one entry per dataset of the
// connection's first link, with Ferry's connectionId.
type readCompletedInitial struct {
	ReferenceCompany companyRef     `json:"referenceCompany"`
	DataTypes        []dataTypeRead `json:"dataTypes"`
	ConnectionID     string         `json:"connectionId"`
}

type dataTypeRead struct {
	ConnectionID string `json:"connectionId"`
	DataType     string `json:"dataType"`
	Status       string `json:"status"`
	DatasetID    string `json:"datasetId"`
}

// connectionEvent is the payload of the connection.* and agent.* events,
// Codat's (referenceCompany, connection), with Ferry's agentId and, for
// the events of an error (connection.error.*, agent.offline,
// agent.online), the error.
type connectionEvent struct {
	ReferenceCompany companyRef       `json:"referenceCompany"`
	Connection       connectionRef    `json:"connection"`
	AgentID          string           `json:"agentId,omitempty"`
	Error            *connectionError `json:"error,omitempty"`
	// Update is an agent.update.* event's report.
	Update *updateReport `json:"update,omitempty"`
}

// updateReport is a step of an agent's update, in agent.update.* events.
type updateReport struct {
	Version string `json:"version"`
	From    string `json:"from,omitempty"`
	Status  string `json:"status"`
	Step    string `json:"step,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type connectionRef struct {
	ID             string `json:"id"`
	IntegrationID  string `json:"integrationId,omitempty"`
	IntegrationKey string `json:"integrationKey,omitempty"`
	SourceID       string `json:"sourceId,omitempty"`
	PlatformName   string `json:"platformName,omitempty"`
	SourceType     string `json:"sourceType"`
	Status         string `json:"status,omitempty"`
	LinkURL        string `json:"linkUrl,omitempty"`
	// DataConnectionErrors are the connection's Active errors at the
	// event, as Codat's.
	DataConnectionErrors []connectionError `json:"dataConnectionErrors,omitempty"`
}

// connectionError is Codat's dataConnectionError.
type connectionError struct {
	StatusCode    string `json:"statusCode"`
	StatusText    string `json:"statusText"`
	ErrorMessage  string `json:"errorMessage"`
	ErroredOnUtc  string `json:"erroredOnUtc"`
	Status        string `json:"status"`
	ResolvedOnUtc string `json:"resolvedOnUtc,omitempty"`
}

// jsonTime is t as the API's times: RFC 3339 in UTC with milliseconds;
// "" for the zero time.
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func errorJSON(e store.ConnectionError) connectionError {
	return connectionError{StatusCode: e.StatusCode, StatusText: e.StatusText, ErrorMessage: e.ErrorMessage,
		ErroredOnUtc: jsonTime(e.ErroredOn), Status: string(e.Status), ResolvedOnUtc: jsonTime(e.ResolvedOn)}
}

// Render is the body of an event's delivery, the same for every attempt.
func Render(e store.WebhookEvent, publicURL string) ([]byte, error) {
	env := Envelope{ID: e.ID, EventType: e.Type, GeneratedDate: jsonTime(e.Generated)}
	co := companyRef{ID: e.CompanyID, Name: e.CompanyName}
	switch e.Type {
	case store.EventReadCompleted:
		base := publicURL + "/companies/" + e.CompanyID
		env.Payload = readCompleted{
			ReferenceCompany: co,
			DataTypes:        []dataTypeRead{{ConnectionID: e.ConnectionID, DataType: e.DataType, Status: e.Status, DatasetID: e.DatasetID}},
			DatasetID:        e.DatasetID, ConnectionID: e.ConnectionID, DataType: e.DataType,
			Status: e.Status, Message: e.Message,
			Links: map[string]link{
				"validation": {Href: base + "/sync/" + e.DatasetID + "/validation"},
				"dataset":    {Href: base + "/data/history/" + e.DatasetID},
			},
		}
	case store.EventReadCompletedInitial:
		p := readCompletedInitial{ReferenceCompany: co, DataTypes: []dataTypeRead{}, ConnectionID: e.ConnectionID}
		for _, r := range e.Reads {
			p.DataTypes = append(p.DataTypes, dataTypeRead{ConnectionID: e.ConnectionID, DataType: r.DataType, Status: r.Status, DatasetID: r.DatasetID})
		}
		env.Payload = p
	default:
		integ, _ := platform.Lookup(e.PlatformKey)
		ev := connectionEvent{
			ReferenceCompany: co,
			Connection: connectionRef{
				ID: e.ConnectionID, IntegrationID: integ.ID, IntegrationKey: e.PlatformKey, SourceID: integ.SourceID,
				PlatformName: integ.Name, SourceType: "Accounting", Status: string(e.ConnectionStatus),
			},
			AgentID: e.AgentID,
		}
		for _, ce := range e.ConnectionErrors {
			ev.Connection.DataConnectionErrors = append(ev.Connection.DataConnectionErrors, errorJSON(ce))
		}
		if e.Error != nil {
			ej := errorJSON(*e.Error)
			ev.Error = &ej
		}
		if u := e.Update; u != nil {
			ev.Update = &updateReport{Version: u.Version, From: u.From, Status: string(u.Status), Step: u.Step, Reason: u.Reason}
		}
		env.Payload = ev
	}
	return json.Marshal(env)
}
