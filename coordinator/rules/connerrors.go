package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// This file holds the rules of a connection's errors (Codat's
// dataConnectionErrors): which fact raises which error, what resolves it,
// and the webhook events their changes fire. An error is raised at most
// once while it is Active: raising a kind already Active changes nothing.

// errorStatusCodes is the HTTP status of each kind of error, Codat's
// statusCode.
var errorStatusCodes = map[string]string{
	store.ConnErrAgentOffline:      "503",
	store.ConnErrCredentialRevoked: "401",
	store.ConnErrAgentOutdated:     "426",
	store.ConnErrBookMissing:       "404",
	store.ConnErrBookLocked:        "423",
	store.ConnErrBookUnreadable:    "422",
	store.ConnErrLinkCodeExpired:   "410",
}

// bookErrors are the kinds a fetch raises and resolves.
var bookErrors = []string{store.ConnErrBookMissing, store.ConnErrBookLocked, store.ConnErrBookUnreadable}

// agentErrors are the kinds that belong to the connection's agent: a new
// agent linking the connection resolves them.
var agentErrors = []string{store.ConnErrAgentOffline, store.ConnErrCredentialRevoked, store.ConnErrAgentOutdated}

// linkErrors are the kinds a failed link attempt raises: any change of
// the connection's status (it is linked, or the client withdraws it)
// resolves them.
var linkErrors = []string{store.ConnErrLinkCodeExpired}

// LinkFailed is what an attempt to link c with its link code that
// expired at expires does to c, at now: unless c is Linked, the
// LinkCodeExpired error is raised (which sends connection.failed). It
// reports whether c changed.
func LinkFailed(c *store.Connection, expires, now time.Time) bool {
	if c.Status == store.Linked {
		return false
	}
	msg := fmt.Sprintf("an agent tried to link this connection with a link code that expired at %s; the end user needs a new code from the link page",
		expires.UTC().Format(time.RFC3339))
	return RaiseError(c, store.ConnErrLinkCodeExpired, msg, now)
}

// ActiveError returns c's Active error of kind, if any.
func ActiveError(c store.Connection, kind string) (store.ConnectionError, bool) {
	for _, e := range c.Errors {
		if e.StatusText == kind && e.Status == store.ErrorActive {
			return e, true
		}
	}
	return store.ConnectionError{}, false
}

// RaiseError raises on c an error of kind saying message, at now, unless
// one of that kind is Active already. It reports whether c changed.
func RaiseError(c *store.Connection, kind, message string, now time.Time) bool {
	if _, ok := ActiveError(*c, kind); ok {
		return false
	}
	c.Errors = append(c.Errors, store.ConnectionError{
		StatusCode: errorStatusCodes[kind], StatusText: kind, ErrorMessage: message,
		ErroredOn: now.UTC(), Status: store.ErrorActive,
	})
	trimResolved(c)
	return true
}

// ResolveErrors resolves, at now, c's Active errors of the kinds given. It
// reports whether c changed.
func ResolveErrors(c *store.Connection, now time.Time, kinds ...string) bool {
	changed := false
	for i, e := range c.Errors {
		if e.Status == store.ErrorActive && slices.Contains(kinds, e.StatusText) {
			if !changed {
				// The caller's copy of the connection before the change
				// shares the list: it must keep the errors as they were.
				c.Errors = slices.Clone(c.Errors)
			}
			c.Errors[i].Status, c.Errors[i].ResolvedOn = store.ErrorResolved, now.UTC()
			changed = true
		}
	}
	if changed {
		trimResolved(c)
	}
	return changed
}

// trimResolved keeps the newest store.MaxResolvedErrors Resolved errors of
// c, and every Active one.
func trimResolved(c *store.Connection) {
	resolved := 0
	for _, e := range c.Errors {
		if e.Status == store.ErrorResolved {
			resolved++
		}
	}
	drop := resolved - store.MaxResolvedErrors
	if drop <= 0 {
		return
	}
	c.Errors = slices.DeleteFunc(slices.Clone(c.Errors), func(e store.ConnectionError) bool {
		if drop > 0 && e.Status == store.ErrorResolved {
			drop--
			return true
		}
		return false
	})
}

// ActiveErrors are c's Active errors, nil when none.
func ActiveErrors(c store.Connection) []store.ConnectionError {
	var out []store.ConnectionError
	for _, e := range c.Errors {
		if e.Status == store.ErrorActive {
			out = append(out, e)
		}
	}
	return out
}

// OfflineDue reports whether agent a is to be reported offline at now: no
// replica holds its channel (online false), its credential is valid, and
// it was last seen (or, never seen, created) at least after before now.
// The leader calls it for every agent; the answer differs from whether a
// is reported offline (a.Offline set) only for those whose report must
// change.
func OfflineDue(a store.Agent, online bool, now time.Time, after time.Duration) bool {
	if online || !a.Revoked.IsZero() {
		return false
	}
	last := a.LastSeen
	if last.IsZero() {
		last = a.Created
	}
	return !now.Before(last.Add(after))
}

// AgentOffline is what agent a's presence at now means for it and conns,
// the connections bound to it. When OfflineDue, a is reported offline
// (a.Offline set to now) and the AgentOffline error is raised on each of
// conns that is Linked; when not, the report ends (a.Offline cleared) and
// the error is resolved on every one of conns. It returns whether a
// changed and the indexes of conns that changed.
func AgentOffline(a *store.Agent, online bool, conns []store.Connection, now time.Time, after time.Duration) (bool, []int) {
	due := OfflineDue(*a, online, now, after)
	agentChanged := due != !a.Offline.IsZero()
	switch {
	case due && a.Offline.IsZero():
		a.Offline = now.UTC()
	case !due:
		a.Offline = time.Time{}
	}
	var changed []int
	for i := range conns {
		c := &conns[i]
		var ch bool
		if due && c.Status == store.Linked && c.AgentID == a.ID {
			ch = RaiseError(c, store.ConnErrAgentOffline, offlineMessage(*a, after), now)
		} else if !due {
			ch = ResolveErrors(c, now, store.ConnErrAgentOffline)
		}
		if ch {
			changed = append(changed, i)
		}
	}
	return agentChanged, changed
}

// AgentEventChangesErrors reports whether an agent event of e's type can
// change connection errors (AgentEventErrors), so that the others cost
// no read.
func AgentEventChangesErrors(e store.AgentEvent) bool {
	return e.Type == store.EventConnected || e.Type == store.EventVersionRefused
}

// AgentEventErrors is what agent event e does to agent a and conns, the
// connections bound to it: a Connected event ends its offline report
// (AgentOffline, online) and resolves AgentOutdated on each of conns; a
// VersionRefused event raises AgentOutdated on each Linked one. It
// returns whether a changed and the indexes of conns that changed.
func AgentEventErrors(a *store.Agent, e store.AgentEvent, conns []store.Connection) (bool, []int) {
	switch e.Type {
	case store.EventConnected:
		agentChanged, changed := AgentOffline(a, true, conns, e.At, 0)
		for i := range conns {
			if ResolveErrors(&conns[i], e.At, store.ConnErrAgentOutdated) && !slices.Contains(changed, i) {
				changed = append(changed, i)
			}
		}
		slices.Sort(changed)
		return agentChanged, changed
	case store.EventVersionRefused:
		var changed []int
		msg := "the agent " + a.ID + " is too old for this coordinator: " + e.Detail + "; update it"
		for i := range conns {
			if conns[i].Status == store.Linked && RaiseError(&conns[i], store.ConnErrAgentOutdated, msg, e.At) {
				changed = append(changed, i)
			}
		}
		return false, changed
	}
	return false, nil
}

// offlineMessage is the AgentOffline error's message.
func offlineMessage(a store.Agent, after time.Duration) string {
	last := a.LastSeen
	if last.IsZero() {
		last = a.Created
	}
	return fmt.Sprintf("the agent %s has been offline since %s (more than %s)", a.ID, last.UTC().Format(time.RFC3339), after)
}

// withdrawErrors is what a connection's change of status does to its
// errors, at now: Deauthorized with its agent kept (the agent's credential
// was revoked) raises CredentialRevoked, and any withdrawal resolves the
// AgentOffline error (the agent no longer serves it); Linked again
// resolves the agent's errors; any change resolves a failed link's.
func withdrawErrors(old store.Connection, c *store.Connection, now time.Time) {
	if old.Status == c.Status {
		return
	}
	ResolveErrors(c, now, linkErrors...)
	switch c.Status {
	case store.Deauthorized:
		ResolveErrors(c, now, store.ConnErrAgentOffline)
		if c.AgentID != "" {
			RaiseError(c, store.ConnErrCredentialRevoked, "the credential of the agent "+c.AgentID+" was revoked", now)
		}
	case store.Unlinked:
		ResolveErrors(c, now, store.ConnErrAgentOffline)
	case store.Linked:
		ResolveErrors(c, now, agentErrors...)
	}
}

// TouchesBook reports whether d's change from old says something of its
// connection's book: it entered Mapping (the book was read) or FetchError
// (it could not be).
func TouchesBook(old, d *store.Dataset) bool {
	if old == nil || old.Status == d.Status {
		return false
	}
	return d.Status == dataset.Mapping || d.Status == dataset.FetchError
}

// BookErrors is what d's change from old does to its connection c's book
// errors, at d's newest timeline entry: entering FetchError with an
// ErrorCode of a book kind raises that error (and resolves the other book
// kinds); entering Mapping resolves them all. A FetchError without a book
// code (an older agent's, or a lease lost) changes nothing. It reports
// whether c changed.
func BookErrors(c *store.Connection, old, d *store.Dataset) bool {
	if !TouchesBook(old, d) {
		return false
	}
	now := d.Requested
	if n := len(d.Timeline); n > 0 {
		now = d.Timeline[n-1].At
	}
	if d.Status == dataset.Mapping {
		return ResolveErrors(c, now, bookErrors...)
	}
	if !slices.Contains(bookErrors, d.ErrorCode) {
		return false
	}
	others := slices.DeleteFunc(slices.Clone(bookErrors), func(k string) bool { return k == d.ErrorCode })
	resolved := ResolveErrors(c, now, others...)
	return RaiseError(c, d.ErrorCode, d.ErrorMessage, now) || resolved
}

// IsBookError reports whether code is a kind of book error, which an
// agent's FetchError report may carry.
func IsBookError(code string) bool { return slices.Contains(bookErrors, code) }

// errorEvents are the events of the change of c's errors from old's:
// connection.error.raised for each newly Active error, and
// connection.error.resolved for each newly Resolved one; with each
// AgentOffline error raised agent.offline, and with each resolved
// agent.online, which so follows an agent.offline only; with each
// LinkCodeExpired error raised, Codat's connection.failed.
func errorEvents(old, c store.Connection) []store.WebhookEvent {
	var out []store.WebhookEvent
	ev := func(typ string, e store.ConnectionError, at time.Time) {
		out = append(out, store.WebhookEvent{
			ID: store.EventID(typ, c.ID+"/"+e.StatusText+"/"+e.ErroredOn.UTC().Format(time.RFC3339Nano)), Type: typ,
			Generated: at, CompanyID: c.CompanyID, ConnectionID: c.ID, AgentID: c.AgentID, Error: &e,
		})
	}
	for _, e := range c.Errors {
		was, ok := findError(old, e)
		switch {
		case e.Status == store.ErrorActive && !ok:
			ev(store.EventConnectionErrorRaised, e, e.ErroredOn)
			switch e.StatusText {
			case store.ConnErrAgentOffline:
				ev(store.EventAgentOffline, e, e.ErroredOn)
			case store.ConnErrLinkCodeExpired:
				ev(store.EventConnectionFailed, e, e.ErroredOn)
			}
		case e.Status == store.ErrorResolved && (!ok || was.Status == store.ErrorActive):
			if !ok { // raised and resolved in one change
				ev(store.EventConnectionErrorRaised, e, e.ErroredOn)
			}
			ev(store.EventConnectionErrorResolved, e, e.ResolvedOn)
			if e.StatusText == store.ConnErrAgentOffline {
				ev(store.EventAgentOnline, e, e.ResolvedOn)
			}
		}
	}
	return out
}

// findError finds in c the error e is (the same kind raised at the same
// time).
func findError(c store.Connection, e store.ConnectionError) (store.ConnectionError, bool) {
	for _, o := range c.Errors {
		if o.StatusText == e.StatusText && o.ErroredOn.Equal(e.ErroredOn) {
			return o, true
		}
	}
	return store.ConnectionError{}, false
}
