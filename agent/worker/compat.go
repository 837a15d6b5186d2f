package worker

import (
	"strconv"
	"strings"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// protocolVersions, when set at link time, replaces the control-channel
// protocol versions the agent's hello offers: numbers separated by
// commas, e.g. -ldflags "-X
// github.com/ferry-sync/ferry/agent/worker.protocolVersions=99". It is a
// compatibility-test hook (the e2e tests build with it an agent the
// coordinator refuses); a release never sets it. Empty, or anything that
// is not a list of numbers: protocol.Version.
var protocolVersions string

// offeredVersions are the protocol versions the hello offers.
func offeredVersions() []int {
	var vs []int
	for _, f := range strings.Split(protocolVersions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return []int{protocol.Version}
		}
		vs = append(vs, n)
	}
	return vs
}
