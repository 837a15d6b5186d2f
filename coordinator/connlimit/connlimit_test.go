package connlimit

import (
	"crypto/tls"
	"net"
	"testing"
)

// The server's hooks see a *tls.Conn over the Listener's Conn when it
// serves TLS; the limiter must find its Conn under it.
func TestUnwrap(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &Conn{Conn: a}
	tests := []struct {
		name string
		in   net.Conn
		want *Conn
	}{
		{"plain", c, c},
		{"under TLS", tls.Server(c, &tls.Config{}), c},
		{"not the listener's", b, nil},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		if got := unwrap(tt.in); got != tt.want {
			t.Errorf("%s: unwrap = %p, want %p", tt.name, got, tt.want)
		}
	}
}
