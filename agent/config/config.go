// Package config is the agent's one configuration file: the coordinator's
// URL, the agent's credential and its source bindings. The file holds a
// secret, so it is written owner-only and refused when others can read it.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Config is the agent's configuration file.
type Config struct {
	// Coordinator is the coordinator's base URL (https://…).
	Coordinator string `json:"coordinator"`
	AgentID     string `json:"agentId,omitempty"`
	// Credential is the agent's secret; it never leaves this file and the
	// Authorization header.
	Credential string    `json:"credential,omitempty"`
	Bindings   []Binding `json:"bindings"`
	// Concurrency is how many reads of its sources the agent runs at once:
	// a GnuCash book's for the datasets of its connection claimed together
	// (up to one of each data type), a CSV folder's for one dataset.
	Concurrency int `json:"concurrency,omitempty"`
	// Insecure allows plain http/ws to a host that is not loopback.
	Insecure bool `json:"insecure,omitempty"`
	// CAFile is an extra CA certificate (PEM) to trust for the coordinator,
	// such as the CA of a proxy that inspects TLS; the system's trust store
	// is used as well.
	CAFile string `json:"caFile,omitempty"`
	// Proxy is the HTTP proxy every connection to the coordinator goes
	// through (http://[user:password@]host:port), even to a loopback
	// coordinator. Empty: the environment's HTTPS_PROXY/HTTP_PROXY/NO_PROXY,
	// then on Windows the machine's WinHTTP proxy.
	Proxy string `json:"proxy,omitempty"`
	// ProxyCredentialsFile is an owner-only file holding user:password for
	// the proxy, used when the proxy's URL holds none.
	ProxyCredentialsFile string `json:"proxyCredentialsFile,omitempty"`
}

// Binding ties a connection to a local source.
type Binding struct {
	ConnectionID string `json:"connectionId"`
	CompanyID    string `json:"companyId"`
	PlatformKey  string `json:"platformKey"`
	Path         string `json:"path"`
}

// Default is the configuration before the file and flags.
func Default() Config { return Config{Concurrency: 2} }

// Load reads the file at path over Default. A missing file is fs.ErrNotExist.
func Load(path string) (Config, error) {
	cfg := Default()
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	if err := checkPrivate(path); err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Save writes the file owner-only (0600), through a temporary file so a
// crash never leaves half a file.
func Save(path string, cfg Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config directory: %w", err)
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := restrict(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Validate checks the configuration; the error names the field at fault.
func (c *Config) Validate() error {
	if c.Coordinator == "" {
		return errors.New("coordinator: a URL is required (run ferry-agent link first)")
	}
	if err := CheckURL(c.Coordinator, c.Insecure); err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	if c.Credential == "" {
		return errors.New("credential: none; run ferry-agent link")
	}
	if c.Concurrency < 1 || c.Concurrency > 32 {
		return errors.New("concurrency: must be 1 to 32")
	}
	if err := CheckProxy(c.Proxy); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	for i, b := range c.Bindings {
		if b.ConnectionID == "" || b.CompanyID == "" || b.PlatformKey == "" || b.Path == "" {
			return fmt.Errorf("bindings[%d]: connectionId, companyId, platformKey and path are required", i)
		}
	}
	return nil
}

// CheckURL refuses anything but http(s), and plain http to a host that is
// not loopback unless insecure.
func CheckURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("refusing plain http to %s: use https, or --insecure on a trusted network", u.Hostname())
	}
	return fmt.Errorf("%q: the scheme must be https (or http)", raw)
}

// CheckProxy refuses a proxy URL that is not http://host:port; empty is
// no proxy configured.
func CheckProxy(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "http" || u.Port() == "" {
		return errors.New("must be http://host:port, with user:password@ before the host if the proxy wants them")
	}
	return nil
}

// ReadSecret reads a file that holds a secret (such as the proxy's
// credentials), refusing it when others can read it.
func ReadSecret(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	return raw, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNotPrivate = errors.New("is readable by other users; run: chmod 600")

// IsNotExist reports whether err says the file is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// SameCoordinator reports whether two coordinator URLs name the same
// coordinator: the same scheme, host (in lower case, without a trailing
// dot), port (the scheme's default when absent) and path (without a
// trailing slash). A credential is only ever sent to the coordinator that
// issued it, so anything else is another coordinator.
func SameCoordinator(a, b string) bool {
	na, okA := normalURL(a)
	nb, okB := normalURL(b)
	return okA && okB && na == nb
}

func normalURL(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return scheme + "://" + net.JoinHostPort(host, port) + strings.TrimRight(u.EscapedPath(), "/"), true
}
