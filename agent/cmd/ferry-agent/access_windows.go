//go:build windows

package main

import "io"

// warnUnreadable: on Windows the service account's access to the book is
// not checked here.
func warnUnreadable(io.Writer, string, string) {}

// needAdmin: Windows refuses a service change to a user who is not an
// administrator, with its own message.
func needAdmin(string) error { return nil }
