package gnucash

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	"github.com/ferry-sync/ferry/agent/source"
)

// gnucashTables are tables every GnuCash SQLite book has.
var gnucashTables = []string{"books", "commodities", "accounts", "transactions", "splits", "gnclock"}

// RuleBookOpen is the rule id of the warning that the book was open in
// GnuCash while Ferry read it.
const RuleBookOpen = "source.bookOpen"

// openSQLite copies an SQLite book (copySQLite: GnuCash waits for Ferry
// at most one short step, never for a whole fetch), checks that the copy
// is GnuCash's, and reads the copy. A row in gnclock (GnuCash has the book
// open) is a warning: GnuCash writes every change at once, so the book is
// complete as it is.
func (s *Source) openSQLite(ctx context.Context) (loader, []source.Warning, error) {
	cp, err := copySQLite(ctx, s.path, s.opts.TempDir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, source.Fetchf(err, "cannot read GnuCash book %s as an SQLite database: %v", s.path, err)
	}
	l, warnings, err := s.checkSQLite(ctx, cp)
	if err != nil {
		os.Remove(cp)
		return nil, nil, err
	}
	return l, warnings, nil
}

// checkSQLite opens the copy cp of the book and checks its tables and lock.
func (s *Source) checkSQLite(ctx context.Context, cp string) (*sqlLoader, []source.Warning, error) {
	db, err := openSQLite(cp)
	if err != nil {
		return nil, nil, source.Fetchf(err, "cannot open GnuCash book %s: %v", s.path, err)
	}
	fail := func(err error) (*sqlLoader, []source.Warning, error) {
		db.Close()
		return nil, nil, err
	}
	have := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return fail(source.Fetchf(err, "cannot read GnuCash book %s as an SQLite database: %v", s.path, err))
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fail(source.Fetchf(err, "cannot read GnuCash book %s: %v", s.path, err))
		}
		have[strings.ToLower(name)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(source.Fetchf(err, "cannot read GnuCash book %s as an SQLite database: %v", s.path, err))
	}
	for _, t := range gnucashTables {
		if !have[t] {
			return fail(source.Fetchf(nil, "%s is not a GnuCash book: it is an SQLite database, but without GnuCash's tables (no %s table)", s.path, t))
		}
	}
	var host text
	var pid integer
	err = db.QueryRowContext(ctx, "SELECT hostname, pid FROM gnclock LIMIT 1").Scan(&host, &pid)
	switch {
	case err == sql.ErrNoRows:
		return &sqlLoader{db: db, copy: cp}, nil, nil
	case err != nil:
		return fail(source.Fetchf(err, "cannot read GnuCash book %s: %v", s.path, err))
	}
	return &sqlLoader{db: db, copy: cp}, []source.Warning{sqlOpenWarning(string(host), int64(pid))}, nil
}

// sqlOpenWarning says who has the book open, from its gnclock row.
func sqlOpenWarning(host string, pid int64) source.Warning {
	who := "GnuCash"
	if host = strings.TrimSpace(host); host != "" {
		who += " on " + truncate(host, 255)
		if pid != 0 {
			who += fmt.Sprintf(" (process %d)", pid)
		}
	}
	return source.Warning{RuleID: RuleBookOpen, Message: fmt.Sprintf("The book was open in %s while it was read "+
		"(or GnuCash ended without closing it); GnuCash saves every change of an SQLite book at once, "+
		"so everything entered until then is included.", who)}
}
