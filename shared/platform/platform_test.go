package platform

import (
	"slices"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestLookup(t *testing.T) {
	for _, key := range []string{GnuCash, CSV} {
		in, ok := Lookup(key)
		if !ok || in.Key != key || in.Name == "" || in.ID == "" || in.SourceID == "" {
			t.Errorf("Lookup(%q) = %+v, %v", key, in, ok)
		}
	}
	if in, ok := Lookup("sage50"); ok {
		t.Errorf("Lookup(sage50) = %+v, want none", in)
	}
}

// TestWireValues pins what the API and the agents' configs hold.
func TestWireValues(t *testing.T) {
	if got, want := Keys(), []string{"gnucash", "csv"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
	seen := map[string]bool{}
	for _, in := range All {
		if seen[in.ID] || seen[in.SourceID] {
			t.Errorf("%s: an id twice", in.Key)
		}
		seen[in.ID], seen[in.SourceID] = true, true
		if !in.Supports(dataset.Invoices) {
			t.Errorf("%s does not support invoices", in.Key)
		}
	}
}
