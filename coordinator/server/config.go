// Package server assembles a coordinator: the store, the queue, the REST API
// and the listeners, with their start and their clean stop.
package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/coordinator/connlimit"
	"github.com/ferry-sync/ferry/coordinator/proxyproto"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// Config is everything a coordinator is started with.
type Config struct {
	// Listen is the address the HTTP listener binds.
	Listen string
	// DebugListen, when set, is a loopback address on which the Go
	// profiler (net/http/pprof) is served, apart from the API; empty:
	// not served.
	DebugListen string
	// DataDir holds the Badger store (when Store is empty) and the admin
	// key file.
	DataDir string
	// Store is the URL of the store shared by the coordinator's replicas:
	// postgres:// or postgresql:// for PostgreSQL (FERRY_STORE). Empty:
	// the embedded Badger store in DataDir, for one coordinator alone.
	Store string
	// ReplicaID names this coordinator among the replicas sharing the
	// store (FERRY_REPLICA_ID): it is recorded as the holder of its
	// agents' control channels and of the leader lease. Empty: the
	// host's name and the listener's port.
	ReplicaID string
	// LeaderTTL is how long the leader lease lasts without a renewal (it
	// is renewed every third of it): a dead leader's once-only work (lease
	// expiry, the scheduler, webhook delivery, pruning) moves to another
	// replica within it. leader.DefaultTTL when 0.
	LeaderTTL time.Duration
	// SweepInterval is how often the hub offers every connected agent
	// its queued work, whatever the change feed said: a lost notification
	// costs at most this much latency. hub.DefaultSweepInterval when 0.
	SweepInterval time.Duration
	// OfflineAfter is how long an agent may be offline before it is
	// reported offline (--agent-offline-after). hub.DefaultOfflineAfter
	// when 0.
	OfflineAfter time.Duration
	// UpdateHealth is how long an updated agent has to connect and report
	// healthy before it rolls back (--update-health).
	// hub.DefaultUpdateHealth when 0.
	UpdateHealth time.Duration
	// UpdateTimeout is how long an agent has, on top of UpdateHealth,
	// to download, verify, unpack and self-test an update: one that took
	// an update on and reported nothing more within their sum fails
	// (--update-timeout). rollout.DefaultUpdateTimeout when 0.
	UpdateTimeout time.Duration
	// RolloutInterval is how often the leader moves the rollouts on, and
	// RolloutRetry how long it waits before it asks again an agent that
	// has not taken its update on; rollout.DefaultInterval and
	// rollout.DefaultRetry when 0 (tests make them short).
	RolloutInterval, RolloutRetry time.Duration
	// PublicURL is the address clients and agents use; derived from Listen
	// when empty.
	PublicURL string
	// AdminKey, when set, is ensured as a client-scope API key on start
	// (FERRY_ADMIN_KEY). When empty and the store has no keys, one is
	// generated, printed once and written to DataDir/admin-key.
	AdminKey string
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// LinkCodeTTL is how long a link code stays valid.
	LinkCodeTTL time.Duration
	// LeaseTTL is how long an agent's lease lasts without a heartbeat.
	LeaseTTL time.Duration
	// GCInterval is how often the store's value-log garbage is collected
	// (and agent events past EventRetention are pruned).
	GCInterval time.Duration
	// EventRetention is how long agent events are kept.
	EventRetention time.Duration
	// BundleRetention is how long support bundles are kept.
	BundleRetention time.Duration
	// TLSCert and TLSKey, when set, serve HTTPS (and wss for agents).
	TLSCert, TLSKey string
	// Downloads is the directory of the agent's installers (make
	// installers), offered on the link page and served at /downloads/,
	// and of its signed releases (make release) in its releases/ folder,
	// listed at GET /agentReleases and downloaded by agents.
	Downloads string
	// ReleaseRoots are root public keys (base64, separated by commas)
	// whose releases the coordinator offers, besides those compiled into
	// it (shared/release.Roots).
	ReleaseRoots string
	// MinAgentVersion is the oldest agent version given work
	// (--min-agent-version, a release version X.Y.Z): an older agent is
	// welcomed, offered nothing and told to update (hub, minversion.go).
	// Empty: no minimum.
	MinAgentVersion string
	// Webhooks and schedules: see events.go.
	Events EventsConfig
	// MaxConnections is the most connections (agents' websockets, uploads,
	// API and Portal requests) served at once; more wait to be accepted.
	// 0: the process's open-files limit less filesReserve, so that a burst
	// of connections cannot leave the store unable to open its files.
	// Negative: no limit.
	MaxConnections int
	// MaxAuthFailures is how many failed authentications (wrong API keys,
	// unknown or revoked agent credentials) one source address may make in
	// a minute; past it every authenticated call from it is 429 until the
	// minute passes. Negative: no limit.
	MaxAuthFailures int
	// MaxConnectionsPerAddress is the most ordinary connections (all but
	// agents' control channels) from one source address; an IPv6 /64 is
	// one address. 0: half of what ordinary connections may take, at most
	// 256. Negative: no limit.
	MaxConnectionsPerAddress int
	// ProxyProtocolFrom is a comma-separated list of CIDR prefixes
	// (FERRY_PROXY_PROTOCOL_FROM): connections from them must begin with
	// a PROXY protocol header (HAProxy's send-proxy-v2), whose client
	// address every per-address limit and the logs then see. Empty: no
	// header is read.
	ProxyProtocolFrom string
	// IdleTimeout is how long a keep-alive connection may wait, idle, for
	// its next request.
	IdleTimeout time.Duration
}

// MinAdminKey is the fewest characters FERRY_ADMIN_KEY may have: a key
// chosen by hand must not be guessable, even at the limited rate of
// failed authentications.
const MinAdminKey = 32

// filesReserve is how many open files the default MaxConnections keeps for
// the store (Badger's tables and value logs) and the rest of the process.
const filesReserve = 1024

// maxConnections is MaxConnections with the default worked out; 0 means no
// limit.
func (c Config) maxConnections() int {
	switch {
	case c.MaxConnections > 0:
		return c.MaxConnections
	case c.MaxConnections < 0:
		return 0
	}
	files, ok := openFilesLimit()
	if !ok {
		return 0
	}
	return max(int(min(files, 1<<30))-filesReserve, 64)
}

// connectionLimits are the limits of the listener: MaxConnections, a tenth
// of it kept for connections that become agents' control channels, and
// the per-address cap with its default worked out.
func (c Config) connectionLimits() connlimit.Limits {
	lim := connlimit.Limits{Max: c.maxConnections()}
	lim.Reserve = lim.Max / 10
	switch {
	case c.MaxConnectionsPerAddress > 0:
		lim.PerAddress = c.MaxConnectionsPerAddress
	case c.MaxConnectionsPerAddress < 0:
	case lim.Max > 0:
		lim.PerAddress = min(defaultPerAddress, max(1, (lim.Max-lim.Reserve)/2))
	default:
		lim.PerAddress = defaultPerAddress
	}
	return lim
}

// defaultPerAddress is the default cap of ordinary connections from one
// address when MaxConnections leaves room for more.
const defaultPerAddress = 256

// DefaultConfig is the configuration of a coordinator started with no flags.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		DataDir:         "./ferry-data",
		ShutdownTimeout: 15 * time.Second,
		LinkCodeTTL:     7 * 24 * time.Hour,
		LeaseTTL:        60 * time.Second,
		GCInterval:      10 * time.Minute,
		Events:          DefaultEventsConfig(),
		EventRetention:  30 * 24 * time.Hour,
		BundleRetention: 7 * 24 * time.Hour,
		MaxAuthFailures: 20,
		IdleTimeout:     30 * time.Second,
	}
}

// Validate checks the configuration and fills derived values; the error
// names the field at fault.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err)
	}
	if c.DebugListen != "" {
		if err := checkDebugListen(c.DebugListen); err != nil {
			return err
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("data: a directory is required")
	}
	if c.Store != "" && !isPostgres(c.Store) {
		return errors.New("store: not a postgres:// or postgresql:// URL (empty: Badger in --data)")
	}
	if c.UpdateHealth != 0 && (c.UpdateHealth < time.Second || c.UpdateHealth.Milliseconds() > protocol.MaxUpdateHealth) {
		return errors.New("update-health: must be 1s to 1h")
	}
	if c.UpdateTimeout < 0 || c.UpdateTimeout > 24*time.Hour {
		return errors.New("update-timeout: must be 0 (the default) to 24h")
	}
	if len(c.ReplicaID) > 200 {
		return errors.New("replica-id: at most 200 characters")
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
		if c.TLSCert != "" {
			c.PublicURL = "https://" + c.Listen
		}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public-url: %q is not an http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown-timeout: must be positive")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key: give both or neither")
	}
	if c.GCInterval < time.Second {
		return errors.New("gc-interval: must be at least 1s")
	}
	if c.LeaseTTL < 2*time.Second {
		return errors.New("lease-ttl: must be at least 2s")
	}
	if c.EventRetention < time.Hour {
		return errors.New("event-retention: must be at least 1h")
	}
	if c.BundleRetention < time.Hour {
		return errors.New("bundle-retention: must be at least 1h")
	}
	if c.LinkCodeTTL <= 0 {
		return errors.New("link-code-ttl: must be positive")
	}
	if c.IdleTimeout <= 0 {
		return errors.New("idle-timeout: must be positive")
	}
	if _, err := c.releaseRoots(); err != nil {
		return err
	}
	if c.MinAgentVersion != "" {
		if err := release.CheckVersion(c.MinAgentVersion); err != nil {
			return fmt.Errorf("min-agent-version: %w", err)
		}
	}
	if _, err := proxyproto.ParsePrefixes(c.ProxyProtocolFrom); err != nil {
		return fmt.Errorf("proxy-protocol-from: %w", err)
	}
	if c.MaxAuthFailures == 0 {
		return errors.New("max-auth-failures: must be positive, or -1 for no limit")
	}
	if n := utf8.RuneCountInString(c.AdminKey); c.AdminKey != "" && n < MinAdminKey {
		return fmt.Errorf("FERRY_ADMIN_KEY: %d characters, at least %d are required (a random one: openssl rand -base64 32)", n, MinAdminKey)
	}
	return c.Events.Validate()
}

// isPostgres reports whether a store URL selects PostgreSQL.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// releaseRoots are the root public keys the releases are checked against:
// those compiled in and ReleaseRoots.
func (c Config) releaseRoots() ([]ed25519.PublicKey, error) {
	roots, err := release.Roots()
	if err != nil {
		return nil, err
	}
	given, err := release.ParsePublicKeys(c.ReleaseRoots)
	if err != nil {
		return nil, fmt.Errorf("release-roots: %w", err)
	}
	return append(roots, given...), nil
}
