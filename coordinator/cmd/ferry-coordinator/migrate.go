package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-sync/ferry/coordinator/server"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// runMigrate is `ferry-coordinator migrate --from DIR --to URL`: it copies
// a stopped coordinator's Badger store into an empty PostgreSQL database
// and prints what it copied, kind by kind, as read from each.
func runMigrate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ferry-coordinator migrate", flag.ContinueOnError)
	from := fs.String("from", "", "the --data directory of the stopped coordinator whose Badger store is copied")
	to := fs.String("to", "", "URL of the empty PostgreSQL database to copy into, postgres://USER@HOST:PORT/DB?...")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		return errors.New("usage: ferry-coordinator migrate --from DIR --to postgres://USER@HOST:PORT/DB")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	source, target, err := server.Migrate(ctx, *from, *to, log)
	if source != nil && target != nil {
		printCounts(stdout, source, target)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(stdout, "Copied and verified. Start the coordinators with --store and the database's URL.")
	return nil
}

// printCounts writes the counts of each kind read from the source and
// read back from the target, a line per kind, marking those that differ.
func printCounts(w io.Writer, source, target store.Counts) {
	fmt.Fprintf(w, "%-22s %10s %10s\n", "", "Badger", "PostgreSQL")
	for _, k := range store.Kinds {
		mark := ""
		if source[k] != target[k] {
			mark = "  differ"
		}
		fmt.Fprintf(w, "%-22s %10d %10d%s\n", k, source[k], target[k], mark)
	}
}
