// Command genbook writes a generated GnuCash book (gnucashtest.WriteBook)
// of -transactions transactions to -o. TestMillionSplitBookAgentMemory
// runs it built without the race detector, which writes the book some
// nine times slower inside the race-built test binary.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ferry-sync/ferry/agent/source/gnucash/gnucashtest"
)

func main() {
	txns := flag.Int("transactions", 1000, "the book's transactions (two splits each)")
	out := flag.String("o", "", "the book's path (required)")
	flag.Parse()
	if err := write(*out, *txns); err != nil {
		fmt.Fprintln(os.Stderr, "genbook:", err)
		os.Exit(1)
	}
}

func write(path string, txns int) error {
	if path == "" {
		return fmt.Errorf("-o is required")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gnucashtest.WriteBook(f, txns); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
