package protocol

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/shared/dataset"
)

const maxID = 128

func checkID(name, v string) error {
	if v == "" || len(v) > maxID {
		return fmt.Errorf("%s must be 1 to %d bytes", name, maxID)
	}
	return nil
}

// checkAbout checks what an agent says of itself (in its hello and its link
// request), which support staff read: hostname at most 255 bytes, os and
// agentVersion at most 64, each valid UTF-8 without control characters.
func checkAbout(hostname, os, version string) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{{"hostname", hostname, 255}, {"os", os, 64}, {"agentVersion", version, 64}} {
		if len(f.v) > f.max {
			return fmt.Errorf("%s is over %d bytes", f.name, f.max)
		}
		if !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, unicode.IsControl) {
			return fmt.Errorf("%s must be UTF-8 text without control characters", f.name)
		}
	}
	return nil
}

// Validate checks that the message's payload matches its type and that its
// fields are within bounds.
func (m *Message) Validate() error {
	if len(m.ID) > maxID || len(m.ReplyTo) > maxID {
		return errors.New("id too long")
	}
	payloads := 0
	for _, p := range []bool{m.Hello != nil, m.Welcome != nil, m.Offer != nil, m.Claim != nil,
		m.Claimed != nil, m.Report != nil, m.Heartbeat != nil, m.Error != nil, m.Revoked != nil,
		m.Diagnose != nil, m.Diagnostics != nil, m.SupportBundle != nil, m.LogLevel != nil,
		m.Update != nil, m.UpdateStatus != nil} {
		if p {
			payloads++
		}
	}
	if payloads > 1 {
		return errors.New("more than one payload")
	}
	switch m.Type {
	case TypeHello:
		return need(m.Hello != nil, m.Type, func() error { return m.Hello.validate() })
	case TypeWelcome:
		return need(m.Welcome != nil, m.Type, func() error {
			if m.Welcome.HeartbeatMillis < 100 || m.Welcome.LeaseMillis < m.Welcome.HeartbeatMillis {
				return errors.New("welcome: heartbeat must be at least 100 ms and the lease at least one heartbeat")
			}
			if err := checkFeatures(m.Welcome.Features); err != nil {
				return fmt.Errorf("welcome: %w", err)
			}
			return checkID("agentId", m.Welcome.AgentID)
		})
	case TypeOffer:
		return need(m.Offer != nil, m.Type, func() error { return m.Offer.validate() })
	case TypeClaim:
		return need(m.Claim != nil, m.Type, func() error { return checkID("datasetId", m.Claim.DatasetID) })
	case TypeClaimed:
		return need(m.Claimed != nil, m.Type, func() error {
			return errors.Join(m.Claimed.Offer.validate(), checkID("leaseId", m.Claimed.LeaseID))
		})
	case TypeReport:
		return need(m.Report != nil, m.Type, func() error { return m.Report.validate() })
	case TypeHeartbeat:
		return need(m.Heartbeat != nil, m.Type, func() error {
			if len(m.Heartbeat.InHand) > 1000 {
				return errors.New("inHand: too many")
			}
			return nil
		})
	case TypeAck:
		return checkID("replyTo", m.ReplyTo)
	case TypeError:
		return need(m.Error != nil, m.Type, func() error { return checkID("replyTo", m.ReplyTo) })
	case TypeRevoked:
		return need(m.Revoked != nil, m.Type, func() error { return checkID("connectionId", m.Revoked.ConnectionID) })
	case TypeDiagnose, TypeDiagnostics:
		return m.validateDiagnostics()
	case TypeSupportBundle, TypeLogLevel:
		return m.validateSupport()
	case TypeUpdate, TypeUpdateStatus:
		return m.validateUpdate()
	}
	return fmt.Errorf("unknown type %q", truncate(string(m.Type), 32))
}

func need(present bool, t Type, check func() error) error {
	if !present {
		return fmt.Errorf("%s without its payload", t)
	}
	return check()
}

func (h *Hello) validate() error {
	if len(h.Versions) == 0 || len(h.Versions) > 16 {
		return errors.New("hello: versions must list 1 to 16 versions")
	}
	if len(h.Bindings) > MaxBindings || len(h.Leases) > 1000 {
		return errors.New("hello: too many bindings or leases")
	}
	if err := checkAbout(h.Hostname, h.OS, h.AgentVersion); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if err := checkFeatures(h.Features); err != nil {
		return err
	}
	for _, b := range h.Bindings {
		if err := checkID("connectionId", b.ConnectionID); err != nil {
			return err
		}
		if len(b.DataTypes) > len(dataset.DataTypes) {
			return errors.New("hello: too many data types")
		}
	}
	for _, l := range h.Leases {
		if err := errors.Join(checkID("datasetId", l.DatasetID), checkID("leaseId", l.LeaseID)); err != nil {
			return err
		}
	}
	return nil
}

func (o *Offer) validate() error {
	return errors.Join(checkID("datasetId", o.DatasetID), checkID("companyId", o.CompanyID),
		checkID("connectionId", o.ConnectionID))
}

func (r *Report) validate() error {
	if err := errors.Join(checkID("companyId", r.CompanyID), checkID("datasetId", r.DatasetID), checkID("leaseId", r.LeaseID)); err != nil {
		return err
	}
	if !r.To.Valid() {
		return fmt.Errorf("report: unknown status %q", truncate(string(r.To), 32))
	}
	if r.Progress < 0 || r.Progress > 100 || len(r.Message) > 4096 || len(r.ErrorCode) > 64 {
		return errors.New("report: progress must be 0-100, message at most 4096 bytes and errorCode at most 64")
	}
	return CheckWarnings(r.Warnings)
}

// CheckWarnings checks a report's warnings: at most MaxWarnings, each
// ruleId 1 to MaxWarningRuleIDBytes of letters, digits, '.', '-' and '_',
// each message 1 to MaxWarningMessageBytes of valid UTF-8 without control
// characters.
func CheckWarnings(ws []Warning) error {
	if len(ws) > MaxWarnings {
		return fmt.Errorf("report: %d warnings is over %d", len(ws), MaxWarnings)
	}
	for i, w := range ws {
		if w.RuleID == "" || len(w.RuleID) > MaxWarningRuleIDBytes {
			return fmt.Errorf("report: warning %d: ruleId must be 1 to %d bytes", i+1, MaxWarningRuleIDBytes)
		}
		for _, c := range w.RuleID {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return fmt.Errorf("report: warning %d: ruleId may hold letters, digits, '.', '-' and '_' only", i+1)
			}
		}
		if w.Message == "" || len(w.Message) > MaxWarningMessageBytes {
			return fmt.Errorf("report: warning %d: message must be 1 to %d bytes", i+1, MaxWarningMessageBytes)
		}
		if !utf8.ValidString(w.Message) {
			return fmt.Errorf("report: warning %d: message is not valid UTF-8", i+1)
		}
		for _, c := range w.Message {
			if unicode.IsControl(c) {
				return fmt.Errorf("report: warning %d: message holds a control character", i+1)
			}
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
