package sources

import (
	"strings"
	"testing"
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
