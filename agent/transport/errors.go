package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ProxyRefusedError is a proxy's refusal of the agent's CONNECT: it wants
// credentials, or refuses the ones given (407, or 401 as some proxies
// answer), or refuses the destination. Sending again changes nothing.
type ProxyRefusedError struct {
	// Proxy is the proxy's host:port; Target the coordinator's.
	Proxy, Target string
	Status        int
	// StatusText is the proxy's status line ("407 Proxy Authentication
	// Required").
	StatusText     string
	HadCredentials bool
}

func (e *ProxyRefusedError) Error() string {
	switch {
	case e.Status != http.StatusProxyAuthRequired && e.Status != http.StatusUnauthorized:
		return fmt.Sprintf("the proxy %s refused a tunnel to %s (%s): ask its administrators to allow CONNECT to that host and port", e.Proxy, e.Target, e.StatusText)
	case e.HadCredentials:
		return fmt.Sprintf("the proxy %s refused the agent's credentials (%s): they are wrong or no longer valid; %s", e.Proxy, e.StatusText, e.giveThem())
	}
	return fmt.Sprintf("the proxy %s wants credentials (%s) and the agent has none; %s", e.Proxy, e.StatusText, e.giveThem())
}

func (e *ProxyRefusedError) giveThem() string {
	return fmt.Sprintf("give them in the proxy's URL (link --proxy http://USER:PASSWORD@%s, the config's \"proxy\") or in an owner-only file holding USER:PASSWORD (link --proxy-credentials FILE, the config's \"proxyCredentialsFile\")", e.Proxy)
}

// ProxyUnreachableError is a proxy that could not be reached or did not
// answer CONNECT; it may answer later.
type ProxyUnreachableError struct {
	Proxy string
	From  string
	Err   error
}

func (e *ProxyUnreachableError) Error() string {
	return fmt.Sprintf("the proxy %s (from %s) cannot be reached: %v", e.Proxy, e.From, e.Err)
}

func (e *ProxyUnreachableError) Unwrap() error { return e.Err }

// UntrustedError is a certificate chain the agent does not accept, naming
// who issued it. It wraps the verification error.
type UntrustedError struct {
	// Addr is the coordinator's host:port; Proxy the proxy's, "" direct.
	Addr, Proxy string
	// Subject is the presented certificate's; Issuer the issuer of the
	// top of the presented chain, the CA the agent would have to trust.
	Subject, Issuer string
	NotAfter        time.Time
	Err             error
}

func (e *UntrustedError) Error() string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	presented := fmt.Sprintf("the certificate %s presented for %s, issued by %q,", e.Subject, e.Addr, e.Issuer)
	switch {
	case errors.As(e.Err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("%s is outside its validity (it expires %s; %v): check this machine's clock, then ask the coordinator's operators", presented, e.NotAfter.UTC().Format(time.RFC3339), invalid)
	case errors.As(e.Err, &host):
		return fmt.Sprintf("%s is not for that host (%v): a proxy may be answering in the coordinator's place; check the coordinator URL and the proxy", presented, host)
	case errors.As(e.Err, &unknown):
		via := ""
		if e.Proxy != "" {
			via = " (the agent goes through the proxy " + e.Proxy + ")"
		}
		return fmt.Sprintf("%s is not trusted by this machine. A proxy or security product may be inspecting TLS%s: ask its administrators for the CA certificate it signs with (PEM) and run ferry-agent link --ca-file FILE; the system's trust store is still used as well", presented, via)
	}
	return fmt.Sprintf("%s is refused: %v", presented, e.Err)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// explain turns a failed handshake with addr into an *UntrustedError when
// the chain was refused.
func (p *Path) explain(addr string, err error) error {
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || len(verr.UnverifiedCertificates) == 0 {
		return fmt.Errorf("tls with %s: %w", addr, err)
	}
	certs := verr.UnverifiedCertificates
	leaf, top := certs[0], certs[len(certs)-1]
	return &UntrustedError{Addr: addr, Proxy: p.ProxyAddr(), Subject: leaf.Subject.String(),
		Issuer: top.Issuer.String(), NotAfter: leaf.NotAfter, Err: err}
}

// Permanent reports whether err is a refusal that sending again will not
// change: a proxy's refusal, or a certificate the agent does not trust.
func Permanent(err error) bool {
	var refused *ProxyRefusedError
	var untrusted *UntrustedError
	return errors.As(err, &refused) || errors.As(err, &untrusted)
}
