// Package dataset holds the dataset state machine both sides of Ferry obey:
// the statuses, which are terminal, which transitions are allowed and who may
// make each one. Every writer of a dataset status calls CanTransition.
package dataset

// Status is a dataset's state, spelled as in the Codat Platform API.
type Status string

// The statuses of a dataset. No others exist.
const (
	Queued          Status = "Queued"
	Fetching        Status = "Fetching"
	Mapping         Status = "Mapping"
	Validating      Status = "Validating"
	Processing      Status = "Processing"
	Complete        Status = "Complete"
	NotSupported    Status = "NotSupported"
	FetchError      Status = "FetchError"
	MapError        Status = "MapError"
	ValidationError Status = "ValidationError"
	ProcessingError Status = "ProcessingError"
	InternalError   Status = "InternalError"
	AuthError       Status = "AuthError"
)

// Statuses lists every status in lifecycle order, then the error states.
var Statuses = []Status{
	Queued, Fetching, Mapping, Validating, Processing, Complete,
	NotSupported, FetchError, MapError, ValidationError, ProcessingError,
	InternalError, AuthError,
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether a dataset in s can never change again.
func (s Status) Terminal() bool {
	switch s {
	case Queued, Fetching, Mapping, Validating, Processing:
		return false
	}
	return s.Valid()
}

// IsError reports whether s is one of the *Error states.
func (s Status) IsError() bool {
	return s.Terminal() && s != Complete && s != NotSupported
}

// Mover says who may make a transition.
type Mover uint8

// The movers of a transition; Either is Coordinator|Agent.
const (
	Coordinator Mover = 1 << iota
	Agent
	Either = Coordinator | Agent
)

// transitions is the spec's table "Who moves each transition", as data.
// InternalError from any non-terminal state is added in init.
var transitions = map[[2]Status]Mover{
	{Queued, Fetching}:     Coordinator, // on an agent's claim, with a lease
	{Queued, AuthError}:    Coordinator, // connection deauthorized
	{Queued, NotSupported}: Either,
	{Fetching, Mapping}:    Agent,
	{Fetching, FetchError}: Either, // source unreadable, or the last lease expired
	{Fetching, AuthError}:  Agent,
	// The agent reports NotSupported for a type its source cannot provide.
	{Fetching, NotSupported}:      Agent,
	{Mapping, Validating}:         Coordinator, // the agent committed its upload
	{Mapping, MapError}:           Agent,
	{Validating, Processing}:      Coordinator,
	{Validating, ValidationError}: Coordinator,
	{Processing, Complete}:        Coordinator,
	{Processing, ProcessingError}: Coordinator,
	{Fetching, Queued}:            Coordinator, // lease expired
	{Mapping, Queued}:             Coordinator, // lease expired
	{Mapping, FetchError}:         Coordinator, // the last lease expired
}

func init() {
	for _, s := range Statuses {
		if !s.Terminal() {
			transitions[[2]Status{s, InternalError}] = Either
		}
	}
}

// CanTransition reports whether a dataset may move from one status to another
// by anyone at all.
func CanTransition(from, to Status) bool {
	_, ok := transitions[[2]Status{from, to}]
	return ok
}

// MovedBy reports who may make the transition from -> to; zero if nobody.
func MovedBy(from, to Status) Mover {
	return transitions[[2]Status{from, to}]
}

// CanMove reports whether m may move a dataset from one status to another.
func CanMove(m Mover, from, to Status) bool {
	return MovedBy(from, to)&m != 0
}
