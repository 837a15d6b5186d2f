package store

import "log/slog"

// OpenBadgerNoSync opens a store whose writes are not synced to disk before
// they are acknowledged: a crash may lose them. It is for the setup of
// benchmarks in other packages (100,000 connections in seconds), never for
// a coordinator.
func OpenBadgerNoSync(dir string, logger *slog.Logger) (*Badger, error) {
	return openBadger(dir, logger, false)
}
