package server

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// Migrate copies the Badger store of the data directory fromDir (as a
// coordinator started with --data fromDir keeps it) into the empty
// PostgreSQL database at toURL, then reads the database back and checks
// it holds as many items of each kind as were read (store.Copy). It
// returns the counts read from each, and an error when the Badger store
// is missing or in use (the coordinator must be stopped), when the
// database holds anything already (store.ErrNotEmpty), or when the
// counts differ (store.ErrCountsDiffer). The Badger store is left as it
// was, so a coordinator can go on running on it if the move is called off.
func Migrate(ctx context.Context, fromDir, toURL string, log *slog.Logger) (source, target store.Counts, err error) {
	if !strings.HasPrefix(toURL, "postgres://") && !strings.HasPrefix(toURL, "postgresql://") {
		return nil, nil, errors.New("the target must be a postgres:// URL")
	}
	dir := filepath.Join(fromDir, "badger")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		return nil, nil, fmt.Errorf("no Badger store in %s (the coordinator's --data directory): %w", fromDir, err)
	}
	src, err := badgerstore.Open(dir, log.With("subsystem", "badger"))
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, src.Close()) }()
	dst, err := pgstore.Open(ctx, toURL, pgstore.Options{Logger: log.With("subsystem", "postgres")})
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, dst.Close()) }()
	return store.Copy(ctx, src, dst)
}
