package release

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// version is a release version: MAJOR.MINOR.PATCH and an optional
// pre-release after a hyphen (Semantic Versioning 2.0, without build
// metadata), a leading "v" allowed.
type version struct {
	core [3]uint64
	pre  []string
}

// parseVersion reads a release version.
func parseVersion(s string) (version, error) {
	var v version
	core, pre, hasPre := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH: %w", s, ErrMalformed)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return v, fmt.Errorf("version %q: %q is not a number: %w", s, p, ErrMalformed)
		}
		v.core[i] = n
	}
	if hasPre {
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" || strings.Trim(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") != "" {
				return v, fmt.Errorf("version %q: pre-release %q: %w", s, pre, ErrMalformed)
			}
		}
	}
	return v, nil
}

// CheckVersion reports whether s is a release version: MAJOR.MINOR.PATCH
// with an optional -PRERELEASE, a leading "v" allowed.
func CheckVersion(s string) error {
	_, err := parseVersion(s)
	return err
}

// Compare orders two release versions as Semantic Versioning does: -1,
// 0 or 1 as a is older than, the same as or newer than b.
func Compare(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	if c := slices.Compare(va.core[:], vb.core[:]); c != 0 {
		return c, nil
	}
	switch {
	case len(va.pre) == 0 && len(vb.pre) == 0:
		return 0, nil
	case len(va.pre) == 0:
		return 1, nil
	case len(vb.pre) == 0:
		return -1, nil
	}
	return slices.CompareFunc(va.pre, vb.pre, comparePre), nil
}

// comparePre orders two pre-release identifiers: numbers by value and
// below words, words in ASCII order.
func comparePre(a, b string) int {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmpUint(na, nb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CheckUpgrade refuses, with ErrDowngrade, to go from the version running
// to a release that is not newer.
func CheckUpgrade(running, next string) error {
	c, err := Compare(next, running)
	if err != nil {
		return err
	}
	if c <= 0 {
		return fmt.Errorf("release %s is not newer than %s, which runs: %w", next, running, ErrDowngrade)
	}
	return nil
}
