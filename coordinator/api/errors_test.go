package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestClassifyStoreUnavailable: a store that cannot reach its database
// makes a 503 the caller may retry, not a 500.
func TestClassifyStoreUnavailable(t *testing.T) {
	err := fmt.Errorf("look up api key: %w", fmt.Errorf("%w: %w", store.ErrUnavailable, errors.New("dial tcp: connection refused")))
	got := classify(err)
	if got.Status != http.StatusServiceUnavailable || got.Code != CodeUnavailable || !got.Retry {
		t.Errorf("classify(%v) = %+v, want 503, code %d, retry", err, got, CodeUnavailable)
	}
}
