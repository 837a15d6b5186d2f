//go:build windows

package main

import "io"

// warnUnreadable: on Windows the service account's access to the book is
// not checked here.
func warnUnreadable(io.Writer, string, string) {}
