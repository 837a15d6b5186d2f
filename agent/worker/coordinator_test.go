package worker_test

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// agentHello is a fake coordinator's side of a dial: it upgrades r and
// reads the agent's hello; false, the websocket closed, when either fails.
func agentHello(w http.ResponseWriter, r *http.Request) (*websocket.Conn, protocol.Message, bool) {
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return nil, protocol.Message{}, false
	}
	var hello protocol.Message
	if ws.ReadJSON(&hello) != nil {
		ws.Close()
		return nil, protocol.Message{}, false
	}
	return ws, hello, true
}

// welcome answers hello as a coordinator welcomes agent-1.
func welcome(ws *websocket.Conn, hello protocol.Message) error {
	return ws.WriteJSON(protocol.Message{Type: protocol.TypeWelcome, ID: uuid.NewString(), ReplyTo: hello.ID,
		Welcome: &protocol.Welcome{Version: protocol.Version, AgentID: "agent-1", HeartbeatMillis: 60000, LeaseMillis: 180000}})
}
