package source

import (
	"errors"
	"syscall"
)

// Windows' errors for a file another program holds open without sharing
// it, or with a region of it locked.
const (
	errorSharingViolation syscall.Errno = 32
	errorLockViolation    syscall.Errno = 33
)

// locked reports whether err says another program holds the file locked.
func locked(err error) bool {
	return errors.Is(err, errorSharingViolation) || errors.Is(err, errorLockViolation)
}
