package webhook

import "github.com/google/uuid"

// newEventID is the id of an event that is no store transition (an agent
// online or offline): random, and kept with the event in the outbox, so
// every retry carries it.
func newEventID() string { return uuid.NewString() }
