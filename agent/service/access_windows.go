//go:build windows

package service

// CheckAccess: on Windows the MSI installs where every account may run the
// binary, PrepareConfig grants the service its config, PrepareLayout its
// executable's folder (self-update), and link grants it the book
// (icacls); there is nothing to check as the account here.
func CheckAccess(string, []Need) error { return nil }
