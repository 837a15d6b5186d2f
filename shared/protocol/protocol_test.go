package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestDecodeRoundTrip(t *testing.T) {
	msgs := []Message{
		{Type: TypeHello, ID: "1", Hello: &Hello{Versions: []int{1}, Hostname: "pc", OS: "linux",
			Bindings: []Binding{{ConnectionID: "c1", DataTypes: []dataset.DataType{dataset.Invoices}}},
			Leases:   []Lease{{DatasetID: "d1", LeaseID: "l1"}}, Capacity: 2}},
		{Type: TypeWelcome, ID: "2", ReplyTo: "1", Welcome: &Welcome{Version: 1, AgentID: "a1", HeartbeatMillis: 10000, LeaseMillis: 60000}},
		{Type: TypeOffer, ID: "3", Offer: &Offer{DatasetID: "d", CompanyID: "co", ConnectionID: "c", DataType: dataset.Bills, Attempt: 1}},
		{Type: TypeClaim, ID: "4", Claim: &Claim{DatasetID: "d"}},
		{Type: TypeClaimed, ID: "5", ReplyTo: "4", Claimed: &Claimed{Offer: Offer{DatasetID: "d", CompanyID: "co", ConnectionID: "c"}, LeaseID: "l"}},
		{Type: TypeReport, ID: "6", Report: &Report{CompanyID: "co", DatasetID: "d", LeaseID: "l", To: dataset.Mapping, Progress: 50}},
		{Type: TypeReport, ID: "6w", Report: &Report{CompanyID: "co", DatasetID: "d", LeaseID: "l", To: dataset.Mapping,
			Warnings: []Warning{{RuleID: "source.bookOpen", Message: "the book is open in GnuCash on till-pc"}}}},
		{Type: TypeHeartbeat, ID: "7", Heartbeat: &Heartbeat{SentAt: time.Unix(1, 0).UTC(), RTTMillis: 3}},
		{Type: TypeAck, ID: "8", ReplyTo: "6"},
		{Type: TypeError, ID: "9", ReplyTo: "6", Error: &Error{Code: CodeStaleLease, Message: "gone"}},
		{Type: TypeRevoked, ID: "10", Revoked: &Revoked{ConnectionID: "c", Reason: "unlinked"}},
		{Type: TypeDiagnose, ID: "11", Diagnose: &Diagnose{ServerTime: time.Unix(2, 0).UTC()}},
		{Type: TypeDiagnostics, ID: "12", ReplyTo: "11", Diagnostics: &Diagnostics{AgentVersion: "1.0", Hostname: "pc", OS: "linux/amd64",
			AgentTime: time.Unix(3, 0).UTC(), Checks: []Check{{Name: CheckSource, Status: CheckFail, ConnectionID: "c", Message: "no such file"}, {Name: CheckDisk, Status: CheckPass, Value: 1 << 30}}}},
	}
	for _, m := range msgs {
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(raw)
		if err != nil {
			t.Errorf("Decode(%s): %v", raw, err)
			continue
		}
		back, _ := json.Marshal(got)
		if string(back) != string(raw) {
			t.Errorf("round trip changed %s into %s", raw, back)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := map[string]string{
		"not json":             `{"type":`,
		"unknown type":         `{"type":"launch","id":"1"}`,
		"no payload":           `{"type":"claim","id":"1"}`,
		"two payloads":         `{"type":"claim","id":"1","claim":{"datasetId":"d"},"report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping"}}`,
		"empty dataset id":     `{"type":"claim","id":"1","claim":{"datasetId":""}}`,
		"long id":              `{"type":"ack","id":"1","replyTo":"` + strings.Repeat("x", 200) + `"}`,
		"bad status":           `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Done"}}`,
		"bad progress":         `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","progress":101}}`,
		"too many warnings":    `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[` + strings.Repeat(`{"ruleId":"r","message":"m"},`, MaxWarnings) + `{"ruleId":"r","message":"m"}]}}`,
		"warning no rule":      `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[{"ruleId":"","message":"m"}]}}`,
		"warning bad rule":     `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[{"ruleId":"a b","message":"m"}]}}`,
		"warning no message":   `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[{"ruleId":"r","message":""}]}}`,
		"warning long message": `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[{"ruleId":"r","message":"` + strings.Repeat("x", MaxWarningMessageBytes+1) + `"}]}}`,
		"warning control":      `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[{"ruleId":"r","message":"a\u0007b"}]}}`,
		"no versions":          `{"type":"hello","id":"1","hello":{"versions":[]}}`,
		"hostname with NUL":    `{"type":"hello","id":"1","hello":{"versions":[1],"hostname":"pc\u0000"}}`,
		"os with a bell":       `{"type":"hello","id":"1","hello":{"versions":[1],"os":"linux\u0007"}}`,
		"version long":         `{"type":"hello","id":"1","hello":{"versions":[1],"agentVersion":"` + strings.Repeat("1", 65) + `"}}`,
		"ack no reply":         `{"type":"ack","id":"1"}`,
		"oversized":            `{"type":"ack","id":"1","replyTo":"2","pad":"` + strings.Repeat("x", MaxMessageBytes) + `"}`,
		"wrong field type":     `{"type":"claim","id":1,"claim":{"datasetId":"d"}}`,
		"diagnose no payload":  `{"type":"diagnose","id":"1"}`,
		"diagnostics no reply": `{"type":"diagnostics","id":"1","diagnostics":{"checks":[]}}`,
		"check bad status":     `{"type":"diagnostics","id":"1","replyTo":"2","diagnostics":{"checks":[{"name":"disk","status":"Fine"}]}}`,
		"check no name":        `{"type":"diagnostics","id":"1","replyTo":"2","diagnostics":{"checks":[{"name":"","status":"Pass"}]}}`,
	}
	for name, raw := range tests {
		if _, err := Decode([]byte(raw)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: Decode error %v, want ErrBadMessage", name, err)
		}
	}
}

// TestDecodeIgnoresNewFields: a field added in a later build (as
// warnings were added to report) is ignored, not refused, so an older
// coordinator takes a newer agent's report.
func TestDecodeIgnoresNewFields(t *testing.T) {
	raw := `{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","somethingNew":[{"x":1}]}}`
	if _, err := Decode([]byte(raw)); err != nil {
		t.Errorf("a report with a field this build does not know: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"hello","id":"1","hello":{"versions":[1],"bindings":[{"connectionId":"c","dataTypes":["bills"]}]}}`))
	f.Add([]byte(`{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","progress":5}}`))
	f.Add([]byte(`{"type":"report","id":"1","report":{"companyId":"c","datasetId":"d","leaseId":"l","to":"Mapping","warnings":[{"ruleId":"source.bookOpen","message":"open"}]}}`))
	f.Add([]byte(`{"type":"heartbeat","id":"1","heartbeat":{"sentAt":"2026-01-01T00:00:00Z","inHand":[{"datasetId":"d","progress":3}]}}`))
	f.Add([]byte(`{"type":"error","id":"1","replyTo":"2","error":{"code":"stale_lease","message":"x"}}`))
	f.Add([]byte(`{"type":"diagnose","id":"1","diagnose":{"serverTime":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"type":"diagnostics","id":"1","replyTo":"2","diagnostics":{"agentVersion":"1","checks":[{"name":"source","status":"Fail","connectionId":"c","message":"gone","value":3}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes validates again after a round trip.
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal decoded message: %v", err)
		}
		if _, err := Decode(raw); err != nil && len(raw) <= MaxMessageBytes {
			t.Fatalf("re-decode of %s: %v", raw, err)
		}
	})
}
