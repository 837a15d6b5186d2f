package protocol

import (
	"errors"
	"fmt"
	"time"
)

// The diagnostics message pair: support staff ask, through the coordinator,
// an online agent to check itself. An agent too old to know diagnose
// refuses it as an unknown type, and the coordinator's wait times out.
const (
	TypeDiagnose    Type = "diagnose"    // coordinator: check yourself and answer
	TypeDiagnostics Type = "diagnostics" // agent: the report, ReplyTo the diagnose
)

// Diagnose asks for a diagnostics report.
type Diagnose struct {
	// ServerTime is the coordinator's clock when it asked.
	ServerTime time.Time `json:"serverTime"`
}

// CheckStatus is a check's outcome.
type CheckStatus string

// The check outcomes.
const (
	CheckPass CheckStatus = "Pass"
	CheckWarn CheckStatus = "Warn"
	CheckFail CheckStatus = "Fail"
)

// Valid reports whether s is one of the outcomes.
func (s CheckStatus) Valid() bool { return s == CheckPass || s == CheckWarn || s == CheckFail }

// The names of the checks an agent runs (a coordinator adds CheckClock from
// the report's AgentTime).
const (
	CheckSource  = "source"  // one per binding: its local data can be read
	CheckDisk    = "disk"    // free space where the agent keeps its files
	CheckClock   = "clock"   // skew against the coordinator's clock
	CheckVersion = "version" // the agent's version
	// CheckCredential: the coordinator accepts the agent's credential
	// (ferry-agent diagnose only: a remote diagnostic needs it accepted).
	CheckCredential = "credential"
	// The path to the coordinator, step by step, each from where the one
	// before it ended (agent/diagnose.Path).
	CheckDNS       = "dns"       // the coordinator's, or the proxy's, name resolves
	CheckTCP       = "tcp"       // a TCP connection to it opens
	CheckProxy     = "proxy"     // which proxy, how it was found, and its tunnel
	CheckTLS       = "tls"       // the certificate: trusted, its issuer, its expiry
	CheckHTTP      = "http"      // the coordinator answers /healthz
	CheckWebsocket = "websocket" // an upgrade to the control channel reaches it
)

// Check is one thing an agent checked.
type Check struct {
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	// ConnectionID names the binding a source check is about.
	ConnectionID string `json:"connectionId,omitempty"`
	Message      string `json:"message,omitempty"`
	// Value is the measured figure where there is one (free bytes, skew
	// in milliseconds).
	Value int64 `json:"value,omitempty"`
}

// Diagnostics is an agent's report on itself.
type Diagnostics struct {
	AgentVersion string    `json:"agentVersion"`
	Hostname     string    `json:"hostname"`
	OS           string    `json:"os"`
	AgentTime    time.Time `json:"agentTime"`
	Checks       []Check   `json:"checks"`
}

// maxChecks bounds a report: a source check per binding and a few more.
const maxChecks = MaxBindings + 16

func (d *Diagnostics) validate() error {
	if len(d.Hostname) > 255 || len(d.OS) > 64 || len(d.AgentVersion) > 64 {
		return errors.New("diagnostics: hostname, os or agentVersion too long")
	}
	if len(d.Checks) > maxChecks {
		return fmt.Errorf("diagnostics: more than %d checks", maxChecks)
	}
	for _, c := range d.Checks {
		if c.Name == "" || len(c.Name) > 64 || len(c.ConnectionID) > maxID || len(c.Message) > 1024 {
			return errors.New("diagnostics: a check needs a name (64 bytes), a message of at most 1024 bytes")
		}
		if !c.Status.Valid() {
			return fmt.Errorf("diagnostics: check %q has unknown status %q", truncate(c.Name, 32), truncate(string(c.Status), 32))
		}
	}
	return nil
}

// validateDiagnostics checks the payload of the diagnostics pair.
func (m *Message) validateDiagnostics() error {
	if m.Type == TypeDiagnose {
		return need(m.Diagnose != nil, m.Type, func() error { return nil })
	}
	return need(m.Diagnostics != nil, m.Type, func() error {
		return errors.Join(checkID("replyTo", m.ReplyTo), m.Diagnostics.validate())
	})
}
