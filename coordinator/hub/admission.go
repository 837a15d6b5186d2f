package hub

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-sync/ferry/shared/lograte"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Admission of the agents' handshakes. A handshake (the upgrade, the
// hello, the store work of bind, resume, claim and register, the welcome
// and its Connected event) is a handful of synced store writes; run by
// the thousand at once, each takes longer than the agent waits for its
// welcome, the agent gives up and dials again, and the abandoned work
// piles up behind the new connection (a congestion collapse). So a
// bounded number run at once: an upgrade waits a little for a slot, and
// is refused when none frees, before the upgrade, with 503 busy and a
// Retry-After the agent honours (with jitter). A handshake still in
// progress when its agent has gone (a newer connection superseded it) or
// its deadline passed stops before its next store step.

// DefaultHandshakes is Config.Handshakes's default, from
// BenchmarkHandshakeStorm (docs/decisions.md, "Admission of the agents'
// handshakes"): against Badger on 2 cores the handshakes per second do not
// grow past 8 to 16 at once, and 32 at once at the slowest rate measured
// (about 70 a second) take well under a second each, far inside the
// handshake's deadline.
const DefaultHandshakes = 32

// DefaultHandshakeWait is Config.HandshakeWait's default: a slot frees
// in a few milliseconds when handshakes flow, so a longer wait means the
// coordinator is behind, and the agent is better told when to come back.
const DefaultHandshakeWait = 2 * time.Second

// DefaultHandshakeTimeout is Config.HandshakeTimeout's default: well
// inside the 15 s an agent waits for its welcome, so that the coordinator
// gives up on work the agent would abandon, not after it.
const DefaultHandshakeTimeout = 10 * time.Second

// admission bounds the handshakes in progress.
type admission struct {
	slots    chan struct{}
	wait     time.Duration
	refusals lograte.Limiter // logs the refusals at most once a minute
}

func newAdmission(n int, wait time.Duration) *admission {
	return &admission{slots: make(chan struct{}, n), wait: wait}
}

// admit takes a handshake slot for r, waiting up to the hub's
// HandshakeWait, and returns the function that gives it back. When none
// frees in time (or the hub is closing, or the caller left), it answers
// r itself, 503 busy with Retry-After, and returns false.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	a := h.admission
	select {
	case a.slots <- struct{}{}:
	default:
		if !a.await(r.Context(), h.ctx) {
			if n, ok := a.refusals.Allow(""); ok {
				h.log.Warn("agent connections refused: the handshakes in progress are at their bound",
					"handshakes", cap(a.slots), "refused", n)
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(protocol.BusyRetry/time.Second)))
			writeErr(w, http.StatusServiceUnavailable, protocol.CodeBusy,
				"the coordinator is busy with other agents' connections; retry after the Retry-After")
			return nil, false
		}
	}
	return func() { <-a.slots }, true
}

// await waits up to a.wait for a slot; false when none freed in time or
// either context ended.
func (a *admission) await(req, hub context.Context) bool {
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-req.Done():
	case <-hub.Done():
	}
	return false
}
