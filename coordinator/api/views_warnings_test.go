package api

import (
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestStatusDescriptionOfWarnings: a dataset's source warnings are its
// statusDescription, after the description of a retry.
func TestStatusDescriptionOfWarnings(t *testing.T) {
	open := store.Warning{RuleID: "source.bookOpen", Message: "The book was open in GnuCash on till-pc"}
	other := store.Warning{RuleID: "source.other", Message: "Something else."}
	tests := []struct {
		name string
		d    store.Dataset
		want string
	}{
		{"none", store.Dataset{Status: dataset.Complete, Attempt: 1}, ""},
		{"one", store.Dataset{Status: dataset.Complete, Attempt: 1, Warnings: []store.Warning{open}},
			"The book was open in GnuCash on till-pc."},
		{"two", store.Dataset{Status: dataset.Validating, Attempt: 1, Warnings: []store.Warning{open, other}},
			"The book was open in GnuCash on till-pc. Something else."},
		{"retry first", store.Dataset{Status: dataset.Queued, Attempt: 2, Warnings: []store.Warning{open}},
			"waiting for the agent; attempt 2 of 3"},
	}
	for _, tt := range tests {
		if got := pullOperationView(tt.d, false).StatusDescription; got != tt.want {
			t.Errorf("%s: statusDescription %q, want %q", tt.name, got, tt.want)
		}
	}
}
