package gnucash

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// gnucashTables are tables every GnuCash SQLite book has.
var gnucashTables = []string{"books", "commodities", "accounts", "transactions", "splits", "gnclock"}

// openSQLite opens an SQLite book and checks that it is GnuCash's and that
// no GnuCash holds its lock (a row in gnclock while the book is open).
func (s *Source) openSQLite(ctx context.Context) (loader, error) {
	db, err := openSQLite(s.path)
	if err != nil {
		return nil, fetchError(err, "cannot open GnuCash book %s: %v", s.path, err)
	}
	fail := func(err error) (loader, error) {
		db.Close()
		return nil, err
	}
	have := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return fail(fetchError(err, "cannot read GnuCash book %s as an SQLite database: %v", s.path, err))
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fail(fetchError(err, "cannot read GnuCash book %s: %v", s.path, err))
		}
		have[strings.ToLower(name)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(fetchError(err, "cannot read GnuCash book %s as an SQLite database: %v", s.path, err))
	}
	for _, t := range gnucashTables {
		if !have[t] {
			return fail(fetchError(nil, "%s is not a GnuCash book: it is an SQLite database, but without GnuCash's tables (no %s table)", s.path, t))
		}
	}
	var host text
	var pid integer
	err = db.QueryRowContext(ctx, "SELECT hostname, pid FROM gnclock LIMIT 1").Scan(&host, &pid)
	switch {
	case err == sql.ErrNoRows:
		return &sqlLoader{db: db}, nil
	case err != nil:
		return fail(fetchError(err, "cannot read GnuCash book %s: %v", s.path, err))
	}
	who := "GnuCash"
	if host != "" {
		who += " on " + string(host)
		if pid != 0 {
			who += fmt.Sprintf(" (process %d)", pid)
		}
	}
	return fail(fetchError(nil, "%s has the book %s open: close the book in GnuCash, then sync again. "+
		"If GnuCash is not running, the lock was left by a crash: open the book in GnuCash, choose Open Anyway, "+
		"and quit GnuCash to clear it.", who, s.path))
}
