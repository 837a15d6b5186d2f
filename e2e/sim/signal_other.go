//go:build !unix

package sim

import (
	"errors"
	"syscall"
)

// The load tool pauses agent processes only where signals can.
const (
	sigStop syscall.Signal = 0
	sigCont syscall.Signal = 0
)

func kill(int, syscall.Signal) error {
	return errors.New("pausing a process needs a Unix system")
}
