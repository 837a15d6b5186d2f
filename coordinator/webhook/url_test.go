package webhook_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/webhook"
)

// TestSpecialPurposeAddresses judges addresses from every special-purpose
// range, and IPv4 addresses embedded in NAT64 and 6to4 ones, both where a
// consumer is created (CheckURL) and where it is dialled (Control): both
// must refuse the same addresses and let public ones through.
func TestSpecialPurposeAddresses(t *testing.T) {
	tests := []struct {
		addr   string
		public bool
	}{
		// Public.
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"192.31.196.1", true}, // AS112, globally reachable
		{"2606:4700::1", true},
		{"2a00:1450:4001:80b::200e", true},
		{"64:ff9b::5db8:d822", true}, // NAT64 of 93.184.216.34
		{"2002:5db8:d822::1", true},  // 6to4 of 93.184.216.34
		// IPv4 special-purpose.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.254", false},
		{"192.0.0.8", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.254", false},
		{"198.51.100.1", false},
		{"203.0.113.7", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		// IPv6 special-purpose.
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:93.184.216.34", false}, // mapped: dialled as IPv4, never as this
		{"::127.0.0.1", false},          // IPv4-compatible (deprecated)
		{"64:ff9b::7f00:1", false},      // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false},   // NAT64 of 169.254.169.254
		{"64:ff9b::a00:1", false},       // NAT64 of 10.0.0.1
		{"64:ff9b::c612:1", false},      // NAT64 of 198.18.0.1
		{"64:ff9b:1::5db8:d822", false}, // local-use NAT64
		{"100::1", false},
		{"2001::1", false},                              // Teredo
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
		{"2001:2::1", false},                            // benchmarking
		{"2001:10::1", false},                           // ORCHID
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"2002:7f00:1::", false},     // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::1", false}, // 6to4 of 169.254.169.254
		{"2002:c0a8:101::1", false},  // 6to4 of 192.168.1.1
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"ff0e::1", false},
		{"5f00::1", false},
	}
	for _, tt := range tests {
		host := tt.addr
		if strings.Contains(host, ":") {
			host = "[" + strings.Replace(host, "%", "%25", 1) + "]"
		}
		url := "https://" + host + "/hook"
		err := webhook.CheckURL(url, false)
		if got := err == nil; got != tt.public {
			t.Errorf("CheckURL(%s): got %v, want allowed=%v", url, err, tt.public)
		}
		if err != nil && !errors.Is(err, webhook.ErrPrivate) {
			t.Errorf("CheckURL(%s): got %v, want %v", url, err, webhook.ErrPrivate)
		}
		err = webhook.Control("tcp", net.JoinHostPort(tt.addr, "443"), nil)
		if got := err == nil; got != tt.public {
			t.Errorf("Control(%s): got %v, want allowed=%v", tt.addr, err, tt.public)
		}
		// --webhook-allow-private lets every one of them be created.
		if err := webhook.CheckURL(url, true); err != nil {
			t.Errorf("CheckURL(%s, allowPrivate): got %v, want nil", url, err)
		}
	}
}

// TestNumericHosts refuses hosts a resolver would read as an IPv4 address
// in another form than dotted decimal.
func TestNumericHosts(t *testing.T) {
	for _, host := range []string{"127.1", "0x7f000001", "2130706433", "0177.0.0.1", "10.0x0.1", "hooks.0x1"} {
		if err := webhook.CheckURL("http://"+host+"/", false); err == nil {
			t.Errorf("CheckURL(http://%s/): got nil, want an error", host)
		}
	}
	for _, host := range []string{"hooks.example.com", "1password.example", "x0.example", "a.b.c"} {
		if err := webhook.CheckURL("http://"+host+"/", false); err != nil {
			t.Errorf("CheckURL(http://%s/): got %v, want nil", host, err)
		}
	}
}
