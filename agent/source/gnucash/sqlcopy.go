package gnucash

import (
	"context"
	"errors"
	"fmt"
	"os"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// copyStepPages is how many pages one step of the online backup copies
// (1 MiB of a book with the 1 KiB pages GnuCash makes): the book's shared lock is
// held for one step, then released, so a GnuCash saving meanwhile waits
// at most that long.
const copyStepPages = 1024

// copySQLite copies the SQLite book at path into a new file in dir (the
// system's temporary folder when empty) with SQLite's online backup, and
// returns the copy's path; the caller removes it. The copy is one
// consistent version of the book: a write by another connection between
// two steps makes the backup start again, and each restart takes bigger
// steps (four times as many pages), so a book written to all the time
// still gets copied, at worst in one step holding the lock for the copy.
func copySQLite(ctx context.Context, path, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "ferry-book-*.sqlite")
	if err != nil {
		return "", fmt.Errorf("make a temporary copy of the book: %w", err)
	}
	dst := f.Name()
	f.Close()
	if err := backup(ctx, path, dst); err != nil {
		os.Remove(dst)
		return "", err
	}
	return dst, nil
}

// backuper is the modernc.org/sqlite driver connection's backup API.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

func backup(ctx context.Context, path, dst string) error {
	db, err := openSQLite(path)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) has no backup", dc)
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		return errors.Join(steps(ctx, bk), bk.Finish())
	})
}

// steps runs the backup to its end, a few pages at a time.
func steps(ctx context.Context, bk *sqlite.Backup) error {
	n, done, busy := int32(copyStepPages), 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := bk.Step(n)
		switch {
		case isBusy(err) && busy < 5:
			busy++ // a writer held the lock past the busy timeout; try again
			continue
		case err != nil:
			return err
		case !more:
			return nil
		}
		busy = 0
		now := bk.PageCount() - bk.Remaining()
		if now < done+int(n) && n > 0 {
			// The book changed since the last step: the backup started
			// again. Bigger steps meet fewer writes.
			if n *= 4; int(n) >= bk.PageCount() {
				n = -1
			}
		}
		done = now
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}
