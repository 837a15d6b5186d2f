//go:build !(linux || darwin || freebsd || windows)

package diagnose

import "errors"

func freeBytes(string) (uint64, error) { return 0, errors.New("not measured on this OS") }
