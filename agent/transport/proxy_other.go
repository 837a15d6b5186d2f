//go:build !windows

package transport

import "net/url"

// noSystemProxy ends the reason a Path has no proxy.
const noSystemProxy = ""

// systemProxy: outside Windows the environment is the system's setting.
func systemProxy(*url.URL) (*url.URL, string) { return nil, "" }
