package protocol

// LinkRequest exchanges a one-time link code for a binding (POST LinkPath).
// An agent that already has a credential sends it as a Bearer token, and the
// binding is added to that agent; otherwise a new agent is created.
type LinkRequest struct {
	Code         string `json:"code"`
	PlatformKey  string `json:"platformKey"`
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	AgentVersion string `json:"agentVersion"`
}

// Validate checks what the request says of the agent (the code and the
// platform key are checked where they are looked up).
func (r LinkRequest) Validate() error { return checkAbout(r.Hostname, r.OS, r.AgentVersion) }

// LinkResponse answers a LinkRequest. Credential is set only when a new
// agent was created; it is shown this once.
type LinkResponse struct {
	AgentID      string `json:"agentId"`
	Credential   string `json:"credential,omitempty"`
	CompanyID    string `json:"companyId"`
	ConnectionID string `json:"connectionId"`
	PlatformKey  string `json:"platformKey"`
}

// UnlinkRequest ends a binding from the agent's side (POST UnlinkPath): the
// connection becomes Deauthorized.
type UnlinkRequest struct {
	ConnectionID string `json:"connectionId"`
}
