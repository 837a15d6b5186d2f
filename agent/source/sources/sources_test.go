package sources

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/platform"
)

func TestOpen(t *testing.T) {
	src, err := Open("csv", t.TempDir())
	if err != nil || src == nil {
		t.Fatalf("Open(csv) = %v, %v", src, err)
	}
	if src, err := Open("csv", ""); err == nil || src != nil {
		t.Error("Open(csv, \"\") opened a source without a folder")
	}
	_, err = Open("sage50", "/x")
	if err == nil || !strings.Contains(err.Error(), `"sage50"`) {
		t.Errorf("Open(sage50) error = %v, want one naming the platform", err)
	}
}

// TestEveryPlatform checks the agent has a connector for every platform
// the coordinator offers.
func TestEveryPlatform(t *testing.T) {
	for _, key := range platform.Keys() {
		if !slices.Contains(Keys(), key) {
			t.Errorf("no connector for platform %q", key)
		}
	}
	if len(Keys()) != len(platform.All) {
		t.Errorf("connectors %q, platforms %q", Keys(), platform.Keys())
	}
}
