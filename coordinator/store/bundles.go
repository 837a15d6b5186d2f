package store

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// SupportBundle is an archive an agent collected for support staff: its
// recent logs, its configuration without secrets, its diagnostics, its
// versions and the metadata of its books. Support asks for one, the
// replica holding the agent's channel passes the request on, and the
// agent uploads the archive over the data plane.
type SupportBundle struct {
	ID, AgentID string
	// Requested is when support asked for it; the leader prunes bundles
	// requested longer ago than the coordinator keeps them.
	Requested time.Time
	// Uploaded is when the agent's archive arrived; zero while the agent
	// collects it (or never answered).
	Uploaded time.Time
	// Size is the archive's length in bytes; 0 until uploaded.
	Size int64
}

// MaxBundleBytes bounds one support bundle's archive (gzip tar). The
// agent keeps what it collects under it; the coordinator refuses a larger
// upload before reading its body.
const MaxBundleBytes = protocol.MaxBundleBytes

// BundleStore keeps support bundles, asked for on any replica and
// uploaded through any.
type BundleStore interface {
	// RequestBundle stores b (ID, AgentID, Requested) as a bundle waiting
	// for its archive. The feed's Change carries it in Bundles.
	// ErrNotFound if the agent is missing; ErrExists if the id is taken.
	RequestBundle(ctx context.Context, b SupportBundle) error
	// PutBundle stores the archive of the agent's bundle id, uploaded at
	// uploaded. ErrNotFound when the agent has no such bundle; ErrExists
	// when its archive was stored already (an archive is never replaced);
	// an error when archive is over MaxBundleBytes.
	PutBundle(ctx context.Context, agentID, id string, uploaded time.Time, archive []byte) error
	// Bundles returns the agent's bundles, uploaded or waiting, the most
	// recently requested first, without their archives; none (no error)
	// for an unknown agent.
	Bundles(ctx context.Context, agentID string) ([]SupportBundle, error)
	// BundleArchive returns one bundle of the agent and its archive;
	// ErrNotFound when the agent has no such bundle or its archive has not
	// arrived.
	BundleArchive(ctx context.Context, agentID, id string) (SupportBundle, []byte, error)
	// PruneBundles deletes every bundle requested before before, with its
	// archive, and returns how many it deleted.
	PruneBundles(ctx context.Context, before time.Time) (int, error)
}
