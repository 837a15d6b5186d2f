package linkpage

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// Store is what the link page needs of the store. Each method keeps the
// contract written on it, which every backend keeps and storetest checks.
type Store interface {
	// CountFailure adds one to key's window current at now (a new one of
	// length window when it has none, or it ended) and returns its count
	// and end: the code requests per address, counted across replicas.
	CountFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
	// Company returns one company; store.ErrNotFound if missing.
	Company(ctx context.Context, id string) (store.Company, error)
	// Connections returns a company's connections, oldest first;
	// store.ErrNotFound if the company is missing.
	Connections(ctx context.Context, companyID string) ([]store.Connection, error)
	// Connection returns one connection of a company; store.ErrNotFound if
	// either is missing or the connection belongs to another company.
	Connection(ctx context.Context, companyID, id string) (store.Connection, error)
	// ReplaceLinkCode gives a connection whose status is one of from a new
	// code (by its hash), deleting its old one, and sets LinkCodeExpires;
	// its status stays as it is until the code is redeemed. The status is
	// read in the same transaction, so a concurrent unlink cannot slip
	// between the caller's check and the code. store.ErrNotFound if missing;
	// store.ErrLinked if the connection is Linked (never in from);
	// store.ErrCodeRefused for another status not in from; store.ErrExists
	// if the new code's hash is taken.
	ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code store.LinkCode, from ...store.ConnectionStatus) (store.Connection, error)
	// Profile returns the client's profile; the zero Profile when none was
	// set. Its redirect URL is where a Linked connection's page sends the
	// end user.
	Profile(ctx context.Context) (store.Profile, error)
}
