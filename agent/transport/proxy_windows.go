//go:build windows

package transport

import (
	"net/url"
	"unsafe"

	"golang.org/x/sys/windows"
)

// noSystemProxy ends the reason a Path has no proxy.
const noSystemProxy = ", no WinHTTP proxy for the machine (netsh winhttp show proxy)"

var (
	winhttp                 = windows.NewLazySystemDLL("winhttp.dll")
	getDefaultProxyConfig   = winhttp.NewProc("WinHttpGetDefaultProxyConfiguration")
	kernel32                = windows.NewLazySystemDLL("kernel32.dll")
	globalFree              = kernel32.NewProc("GlobalFree")
	winhttpAccessNamedProxy = uint32(3) // WINHTTP_ACCESS_TYPE_NAMED_PROXY
)

// winhttpProxyInfo is WINHTTP_PROXY_INFO.
type winhttpProxyInfo struct {
	accessType  uint32
	proxy       *uint16
	proxyBypass *uint16
}

// systemProxy is the machine's WinHTTP proxy (netsh winhttp set proxy),
// which a service reads where a user's session would read Internet
// Options: the proxy for coord's scheme, unless coord's host is in the
// bypass list.
func systemProxy(coord *url.URL) (*url.URL, string) {
	if getDefaultProxyConfig.Find() != nil {
		return nil, ""
	}
	var info winhttpProxyInfo
	if r, _, _ := getDefaultProxyConfig.Call(uintptr(unsafe.Pointer(&info))); r == 0 {
		return nil, ""
	}
	proxy, bypass := windows.UTF16PtrToString(info.proxy), windows.UTF16PtrToString(info.proxyBypass)
	for _, p := range []*uint16{info.proxy, info.proxyBypass} {
		if p != nil {
			globalFree.Call(uintptr(unsafe.Pointer(p)))
		}
	}
	if info.accessType != winhttpAccessNamedProxy || bypassed(coord.Hostname(), bypass) {
		return nil, ""
	}
	u := pickProxy(proxy, coord.Scheme)
	if u == nil {
		return nil, ""
	}
	return u, FromWinHTTP + " (" + proxy + ")"
}
