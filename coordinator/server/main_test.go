package server

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that a served and stopped coordinator leaves no goroutine
// behind (besides the ones Badger's dependencies start at init).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
