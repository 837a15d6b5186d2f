package rules

import "github.com/ferry-sync/ferry/shared/release"

// BelowMinimum reports whether an agent of version is older than minimum,
// the coordinator's --min-agent-version ("": no minimum). A version that
// is not a release version ("dev", a build of one's own) is below any
// minimum: nothing says it is new enough. An agent that has not said its
// version yet (empty: it never connected) is not.
func BelowMinimum(version, minimum string) bool {
	if minimum == "" || version == "" {
		return false
	}
	n, err := release.Compare(version, minimum)
	return err != nil || n < 0
}

// MinimumTarget is the release an agent below minimum is told to run:
// the newest of the verified releases, when it is at least minimum; false
// when none is.
func MinimumTarget(verified []string, minimum string) (string, bool) {
	best := ""
	for _, v := range verified {
		if BelowMinimum(v, minimum) {
			continue
		}
		if n, err := release.Compare(v, best); best == "" || (err == nil && n > 0) {
			best = v
		}
	}
	return best, best != ""
}
