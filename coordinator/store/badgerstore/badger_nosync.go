package badgerstore

import "log/slog"

// OpenNoSync opens a store whose writes are not synced to disk before
// they are acknowledged: a crash may lose them. It is for the setup of
// benchmarks in other packages (100,000 connections in seconds), never for
// a coordinator.
func OpenNoSync(dir string, logger *slog.Logger) (*Badger, error) {
	return openBadger(dir, logger, false)
}
