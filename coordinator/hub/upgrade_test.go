package hub

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// A refused upgrade is answered in the error shape, saying whether the
// websocket upgrade arrived at all: what ferry-agent diagnose reads to
// tell a proxy that removes upgrades from one that passes them. Neither
// request becomes the agent's channel: its live one stays.
func TestRefusedUpgradeSaysWhetherItArrived(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	tests := []struct {
		name    string
		headers map[string]string
		want    protocol.Code
	}{
		{"no upgrade (a proxy removed it)", nil, protocol.CodeNotUpgrade},
		{"an upgrade of an unknown version (diagnose's)", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Key": "ZmVycnktZGlhZ25vc2UtMQ==", "Sec-WebSocket-Version": "0"}, protocol.CodeBadMessage},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodGet, e.url+protocol.ConnectPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+cred)
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var perr protocol.Error
		err = json.NewDecoder(resp.Body).Decode(&perr)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || err != nil || perr.Code != tt.want || perr.Message == "" {
			t.Errorf("%s: %d %+v (%v), want 400 with code %s", tt.name, resp.StatusCode, perr, err, tt.want)
		}
	}
	hb := protocol.Message{Type: protocol.TypeHeartbeat, ID: "hb-after", Heartbeat: &protocol.Heartbeat{SentAt: time.Now().UTC()}}
	if got := a.reply(hb); got.Type != protocol.TypeAck {
		t.Errorf("the live channel after the refused upgrades: %+v, want it still answering", got)
	}
}
