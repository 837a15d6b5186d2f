package gnucash

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// copyStepPages is how many pages one step of the online backup copies
// (1 MiB of a book with the 1 KiB pages GnuCash makes): the book's shared lock is
// held for one step, then released, so a GnuCash saving meanwhile waits
// at most that long.
const copyStepPages = 1024

// copySQLite copies the SQLite book at path into a new file in dir (the
// system's temporary folder when empty) and returns the copy's path; the
// caller removes it. The copy is one consistent version of the book,
// taken so that GnuCash waits as little as possible to save:
//
//   - first with SQLite's online backup, copyStepPages at a time, the
//     shared lock held for one step and released between steps;
//   - a write by GnuCash between two steps makes the backup start again:
//     after maxRestarts restarts, a book written to that often is copied
//     in one go instead, under one read transaction: a byte copy of the
//     file (a rollback-journal book, as GnuCash makes them: the shared
//     lock keeps every writer out of the file meanwhile, and the copy runs
//     at disk speed, far faster than the backup's), or one backup step (a
//     WAL book, whose readers never block a writer).
func copySQLite(ctx context.Context, path, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "ferry-book-*.sqlite")
	if err != nil {
		return "", fmt.Errorf("make a temporary copy of the book: %w", err)
	}
	dst := f.Name()
	f.Close()
	err = backup(ctx, path, dst, copyStepPages)
	if errors.Is(err, errRestarted) {
		err = copyAtOnce(ctx, path, dst)
	}
	if err != nil {
		os.Remove(dst)
		return "", err
	}
	return dst, nil
}

// maxRestarts is how many times the stepped backup starts again before
// the book is copied at once.
const maxRestarts = 2

// errRestarted: the book changed under the stepped backup too often.
var errRestarted = errors.New("the book changed during its copy")

// backuper is the modernc.org/sqlite driver connection's backup API.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// backup copies path to dst with the online backup, n pages a step (all
// in one step when n is -1).
func backup(ctx context.Context, path, dst string, n int32) error {
	return withConn(ctx, path, func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) has no backup", dc)
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		return errors.Join(steps(ctx, bk, n), bk.Finish())
	})
}

// withConn calls fn with the driver connection of a read-only connection
// to the book at path.
func withConn(ctx context.Context, path string, fn func(dc any) error) error {
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
	return conn.Raw(fn)
}

// steps runs the backup to its end, n pages a step; errRestarted after
// maxRestarts restarts.
func steps(ctx context.Context, bk *sqlite.Backup, n int32) error {
	done, busy, restarts := 0, 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := bk.Step(n)
		switch {
		case isBusy(err) && busy < 3:
			busy++ // a writer held the lock past the busy timeout; try again
			continue
		case err != nil:
			return err
		case !more:
			return nil
		}
		busy = 0
		now := bk.PageCount() - bk.Remaining()
		if now < done+int(n) {
			// The book changed since the last step: the backup started
			// again from its first page.
			if restarts++; restarts > maxRestarts {
				return errRestarted
			}
		}
		done = now
	}
}

// copyAtOnce copies the book at path to dst in one go: one backup step
// for a WAL book (its readers never block writers), else its bytes,
// first without a lock (a copy that may mix versions, at disk speed),
// then under one read transaction, whose shared lock keeps every writer
// out of the file, compared with the copy and patched where they differ:
// the lock is held for reading the book, not for writing its copy.
func copyAtOnce(ctx context.Context, path, dst string) error {
	db, err := openSQLite(path)
	if err != nil {
		return err
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if strings.EqualFold(mode, "wal") {
		return backup(ctx, path, dst, -1)
	}
	if err := patch(path, dst); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	// The first read takes the shared lock, held until the rollback.
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return err
	}
	return patch(path, dst)
}

// patch makes the file at dst a copy of the one at src, writing only the
// pieces (1 MiB) that differ, and cutting or growing it to src's size.
func patch(src, dst string) error {
	in, err := OpenBookFile(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(in, a)
		if n > 0 {
			m, _ := out.ReadAt(b[:n], off)
			if m != n || !bytes.Equal(a[:n], b[:n]) {
				if _, err := out.WriteAt(a[:n], off); err != nil {
					out.Close()
					return err
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	return errors.Join(out.Truncate(off), out.Close())
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}
