// Command ferry-coordinator runs Ferry's coordinator: the REST API, the
// agents' control channel and the store. `ferry-coordinator migrate`
// moves a stopped coordinator's Badger store into PostgreSQL (migrate.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	// Sync windows name IANA zones; the zone data is built in, as a
	// Windows machine or a slim container has none of its own.
	_ "time/tzdata"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/memlimit"
	"github.com/ferry-sync/ferry/coordinator/rollout"
	"github.com/ferry-sync/ferry/coordinator/server"
)

var version = "dev"

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		err = runMigrate(os.Args[2:], os.Stdout)
	} else {
		err = run(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry-coordinator:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := server.DefaultConfig()
	cfg.AdminKey = os.Getenv("FERRY_ADMIN_KEY")
	fs := flag.NewFlagSet("ferry-coordinator", flag.ContinueOnError)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	fs.StringVar(&cfg.DebugListen, "debug-listen", "", "loopback address on which to serve the Go profiler (/debug/pprof/) and the expvar counters (/debug/vars: Badger's reads and compaction, MemStats), apart from the API, e.g. 127.0.0.1:6060 (empty: not served)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "directory for the store and the admin key")
	fs.StringVar(&cfg.Store, "store", os.Getenv("FERRY_STORE"), "the store shared by the coordinator's replicas: postgres://USER@HOST:PORT/DB?... (default FERRY_STORE; empty: Badger in --data, for one coordinator)")
	fs.StringVar(&cfg.ReplicaID, "replica-id", os.Getenv("FERRY_REPLICA_ID"), "this coordinator's id among the replicas sharing --store (default FERRY_REPLICA_ID, else the host's name and the listener's port)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "URL clients and agents use (default http://LISTEN)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests may take to finish on stop")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "how long an agent's lease lasts without a heartbeat")
	fs.DurationVar(&cfg.OfflineAfter, "agent-offline-after", hub.DefaultOfflineAfter, "how long an agent may be offline before its connections get an AgentOffline error and agent.offline is sent")
	fs.DurationVar(&cfg.UpdateHealth, "update-health", hub.DefaultUpdateHealth, "how long an updated agent has to connect and report healthy before it puts its old version back (sent in each update)")
	fs.DurationVar(&cfg.UpdateTimeout, "update-timeout", rollout.DefaultUpdateTimeout, "how long an agent has, beyond --update-health, to download, verify, unpack and self-test an update; one that says nothing more within both fails (timeout)")
	fs.DurationVar(&cfg.EventRetention, "event-retention", cfg.EventRetention, "how long agent events are kept")
	fs.DurationVar(&cfg.BundleRetention, "bundle-retention", cfg.BundleRetention, "how long support bundles are kept")
	fs.IntVar(&cfg.MaxConnections, "max-connections", 0, "most connections served at once, more wait (0: the open-files limit less 1024 kept for the store; -1: no limit)")
	fs.IntVar(&cfg.MaxConnectionsPerAddress, "max-connections-per-address", 0, "most connections from one address, agents' control channels aside (0: half of what max-connections leaves to ordinary connections, at most 256; -1: no limit)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "how long an idle keep-alive connection is kept open")
	fs.IntVar(&cfg.MaxAuthFailures, "max-auth-failures", cfg.MaxAuthFailures, "failed authentications (API keys, agent credentials) one address may make in a minute; then 429 until the minute passes (-1: no limit)")
	fs.StringVar(&cfg.ProxyProtocolFrom, "proxy-protocol-from", os.Getenv("FERRY_PROXY_PROTOCOL_FROM"), "CIDR[,CIDR...] of load balancers whose connections begin with a PROXY protocol header (HAProxy send-proxy-v2), whose client address the per-address limits and logs then see (default FERRY_PROXY_PROTOCOL_FROM; empty: none)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS and wss")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&cfg.Downloads, "downloads", "", "directory of the agent's installers (make installers: dist/), offered on link pages, and of its signed releases in its releases/ folder (make release), offered to agents")
	fs.StringVar(&cfg.ReleaseRoots, "release-roots", os.Getenv("FERRY_RELEASE_ROOTS"), "root public keys (base64, separated by commas; make release: .release-keys/root.pub) whose signed releases are offered, besides those compiled in (default FERRY_RELEASE_ROOTS)")
	fs.StringVar(&cfg.MinAgentVersion, "min-agent-version", "", "oldest agent version (X.Y.Z) given work: an older agent (or one whose version is not X.Y.Z, such as dev) is offered none and is told to update to the newest verified release at or above it (empty: no minimum)")
	fs.BoolVar(&cfg.Events.WebhookAllowPrivate, "webhook-allow-private", false, "allow webhook URLs on loopback and private addresses (off: refused when created and when dialled)")
	fs.DurationVar(&cfg.Events.WebhookDisableAfter, "webhook-disable-after", cfg.Events.WebhookDisableAfter, "disable a webhook consumer whose deliveries keep failing this long")
	fs.DurationVar(&cfg.Events.WebhookMinBackoff, "webhook-min-backoff", cfg.Events.WebhookMinBackoff, "wait before the first retry of a failed webhook delivery (doubles per attempt)")
	fs.DurationVar(&cfg.Events.WebhookMaxBackoff, "webhook-max-backoff", cfg.Events.WebhookMaxBackoff, "longest wait between retries of a webhook delivery")
	fs.DurationVar(&cfg.Events.ScheduleInterval, "schedule-interval", cfg.Events.ScheduleInterval, "the longest the scheduler sleeps between looks for due syncs (it also wakes when one falls due or is armed)")
	memoryLimit := fs.String("memory-limit", "", "soft limit on the process's memory, as 512MiB or 2GiB: the GC collects more often to stay under it (default GOMEMLIMIT; neither set: kept at 1.5 times the live heap, at least 16MiB above it)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("ferry-coordinator", version)
		return nil
	}
	if *memoryLimit != "" {
		n, err := parseBytes(*memoryLimit)
		if err != nil {
			return fmt.Errorf("memory-limit: %w", err)
		}
		debug.SetMemoryLimit(n)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *memoryLimit == "" && os.Getenv("GOMEMLIMIT") == "" {
		// No limit given: one follows the live heap (memlimit).
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); memlimit.Run(mctx) }()
		defer func() { cancel(); <-done }()
	}
	srv, err := server.New(ctx, cfg, log, os.Stdout)
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}

// parseBytes reads a size as GOMEMLIMIT writes it: digits and an optional
// unit, B, KiB, MiB, GiB or TiB.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	digits, shift := s, uint(0)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			digits, shift = rest, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size such as 512MiB", s)
	}
	return n << shift, nil
}
