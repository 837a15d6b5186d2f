package worker

import (
	"slices"
	"testing"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestOfferedVersions: the hello offers protocol.Version unless the
// link-time hook names other versions; a hook that is not a list of
// numbers is ignored.
func TestOfferedVersions(t *testing.T) {
	defer func(v string) { protocolVersions = v }(protocolVersions)
	for _, c := range []struct {
		hook string
		want []int
	}{{"", []int{protocol.Version}}, {"99", []int{99}}, {"2, 99", []int{2, 99}}, {"x", []int{protocol.Version}}} {
		protocolVersions = c.hook
		if got := offeredVersions(); !slices.Equal(got, c.want) {
			t.Errorf("protocolVersions %q: %v, want %v", c.hook, got, c.want)
		}
	}
}
