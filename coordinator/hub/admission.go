package hub

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/shared/lograte"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Admission of the agents' handshakes. A handshake (the credential's
// read, the upgrade, the hello, the store work of bind, resume, claim and
// register, the welcome and its Connected event) is a handful of synced
// store writes; run by the thousand at once, each takes longer than the
// agent waits for its welcome, the agent gives up and dials again, and
// the abandoned work piles up behind the new connection (a congestion
// collapse). So a bounded number run at once: a dial waits a little for a
// slot, and is refused when none frees, before its credential is read and
// before the upgrade, with 503 busy and a Retry-After the agent honours
// (with jitter): a refusal costs no store read. A handshake still in
// progress when its agent has gone (a newer connection superseded it) or
// its deadline passed stops before its next store step.
//
// The Retry-After is the coordinator's queue: the admission measures how
// long a handshake holds its slot (a moving average, hold), so at its
// bound it admits one handshake every hold/slots (Little's law); each
// refused dial is booked the next such turn after the refused dials
// booked before it (not after the dials waiting for a slot: in a storm
// they are refused with it, and a dial back early waits in the queue that
// keeps the slots taken). N agents refused at once
// are told about 1, 2, …, N turns from now: they come back spread over
// the time the coordinator needs to admit them, not all together after a
// fixed wait (a wave refused again) nor later than it needs. At least a
// second, and never further ahead than the storm of refusals has lasted,
// twice over (at least protocol.BusyRetry, at most MaxBusyRetry): past it
// the booking stops there, and the agents told the longest wait are
// refused again and booked anew. The rate a storm's first refusals are
// booked at is measured in its first seconds (the whole fleet dialling at
// once, Badger cold after a restart), often ten times below what the
// coordinator admits a few seconds later; a booking a minute ahead on it
// leaves the slots empty while the agents wait out their Retry-After. So
// the horizon grows with the storm, as an agent's backoff grows with its
// failures: the first refused come back within seconds, and are booked
// again, further if need be, on the rate measured since.

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

// MaxBusyRetry bounds a busy refusal's Retry-After.
const MaxBusyRetry = time.Minute

// holdWeight is the weight of the moving average of a slot's hold: each
// handshake moves it by 1/holdWeight of the difference, so it follows the
// last hundred or so.
const holdWeight = 32

// admission bounds the handshakes in progress and books the refused
// dials' returns.
type admission struct {
	slots    chan struct{}
	wait     time.Duration
	now      func() time.Time // the admission's own clock: a hold is measured in real time
	refusals lograte.Limiter  // logs the refusals at most once a minute

	mu     sync.Mutex
	hold   time.Duration // moving average of a slot's hold; 0 before the first
	booked time.Time     // the last return booked for a refused dial
	storm  time.Time     // the first refusal since the bookings last all passed
}

func newAdmission(n int, wait time.Duration) *admission {
	return &admission{slots: make(chan struct{}, n), wait: wait, now: time.Now}
}

// admit takes a handshake slot for r, waiting up to the hub's
// HandshakeWait, and returns the function that gives it back. When none
// frees in time (or the hub is closing, or the caller left), it answers
// r itself, 503 busy with the Retry-After retryAfter books, and returns
// false.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	a := h.admission
	select {
	case a.slots <- struct{}{}:
	default:
		if !a.await(r.Context(), h.ctx) {
			after := a.retryAfter()
			if n, ok := a.refusals.Allow(""); ok {
				h.log.Warn("agent connections refused: the handshakes in progress are at their bound",
					"handshakes", cap(a.slots), "refused", n, "retryAfter", after)
			}
			w.Header().Set("Retry-After", ratelimit.RetryAfter(after))
			writeErr(w, http.StatusServiceUnavailable, protocol.CodeBusy,
				"the coordinator is busy with other agents' connections; retry after the Retry-After")
			return nil, false
		}
	}
	start := a.now()
	return func() {
		a.held(a.now().Sub(start))
		<-a.slots
	}, true
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

// held adds a slot's hold d to the moving average.
func (a *admission) held(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hold == 0 {
		a.hold = max(d, 1)
		return
	}
	a.hold += (d - a.hold) / holdWeight
}

// retryAfter books a refused dial's return: one turn (hold/slots; the
// wait for a slot taken as the hold before any was measured) after the
// later of the last booking and now, at least 1 s and at most the horizon
// from now.
func (a *admission) retryAfter() time.Duration {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	hold := a.hold
	if hold == 0 {
		hold = a.wait
	}
	turn := hold / time.Duration(cap(a.slots))
	// Every booking has passed: a storm begins. Not behind the dials
	// waiting now: in a storm they arrived with this one and are refused
	// with it, not admitted ahead of it, and a dial booked early waits in
	// the queue (up to the wait) that keeps the slots taken.
	if !a.booked.After(now) {
		a.storm, a.booked = now, now
	}
	a.booked = a.booked.Add(turn)
	if last := now.Add(horizon(now.Sub(a.storm))); a.booked.After(last) {
		a.booked = last
	}
	return max(a.booked.Sub(now), time.Second)
}

// horizon is how far ahead a refusal is booked at most, a storm of
// refusals age old: twice its age, within [protocol.BusyRetry,
// MaxBusyRetry]. A refused agent comes back within about three times the
// age it was refused at, to a coordinator whose rate has been measured
// over that much longer; after half a minute the bound is MaxBusyRetry.
func horizon(age time.Duration) time.Duration {
	return min(max(2*age, protocol.BusyRetry), MaxBusyRetry)
}
