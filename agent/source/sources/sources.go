// Package sources opens a binding's source by its platform key: the one
// place that knows every connector.
package sources

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/source/csv"
	"github.com/ferry-sync/ferry/agent/source/gnucash"
	"github.com/ferry-sync/ferry/shared/platform"
)

// Keys lists the platform keys this agent has a connector for.
func Keys() []string { return []string{platform.CSV, platform.GnuCash} }

// Open opens the source of platform platformKey at path (a book's file, a
// folder). A source opens even when its data is unavailable for now; its
// Fetch says why.
func Open(platformKey, path string) (source.Source, error) {
	switch platformKey {
	case platform.CSV:
		s, err := csv.Open(path)
		if err != nil {
			return nil, err // not a nil *csv.Source in a non-nil interface
		}
		return s, nil
	case platform.GnuCash:
		s, err := gnucash.Open(path)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("no connector for platform %q: this agent has %s",
		platformKey, strings.Join(Keys(), ", "))
}
