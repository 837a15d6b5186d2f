package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func cmdLink(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("link", stderr)
	coordinator := fs.String("coordinator", "", "the coordinator's URL (https://…)")
	code := fs.String("code", "", "the link code shown on the link page")
	src := fs.String("source", "", "the kind of local data: gnucash or csv")
	dataPath := fs.String("path", "", "the GnuCash book, or the folder of CSV files")
	var via route
	fs.BoolVar(&via.insecure, "insecure", false, "allow plain http to a host that is not loopback")
	fs.StringVar(&via.caFile, "ca-file", "", "an extra CA certificate (PEM) to trust for the coordinator, such as a TLS-inspecting proxy's (the system's trust store is used as well)")
	fs.StringVar(&via.proxy, "proxy", "", "the HTTP proxy to reach the coordinator through, http://[USER:PASSWORD@]HOST:PORT, kept in the config (none: stop using one)")
	fs.StringVar(&via.proxyCredentials, "proxy-credentials", "", "an owner-only file holding the proxy's USER:PASSWORD, when its URL holds none")
	replace := fs.Bool("replace", false, "replace the agent this config holds: unlink every binding at its coordinator first, then link afresh")
	force := fs.Bool("force", false, "with --replace: link even when the old coordinator cannot be told (its bindings stay linked there)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	old, err := config.Load(*path)
	if err != nil && !config.IsNotExist(err) {
		return err
	}
	target := strings.TrimRight(*coordinator, "/")
	if target == "" {
		target = old.Coordinator
	}
	if target == "" || *code == "" || *src == "" || *dataPath == "" {
		return errors.New("link needs --coordinator, --code, --source and --path")
	}
	if *force && !*replace {
		return errors.New("--force goes with --replace")
	}
	cfg, err := linkConfig(*path, old, target, *replace, via)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(*dataPath)
	if err != nil {
		return err
	}
	if _, err := sources.Open(*src, abs); err != nil {
		return err
	}
	replacing := *replace && holdsAgent(old)
	if replacing {
		if err := unlinkAll(stdout, stderr, *path, old, *force); err != nil {
			return err
		}
	}
	resp, err := exchange(cfg, protocol.LinkRequest{Code: *code, PlatformKey: *src, Hostname: worker.Hostname(), OS: worker.OSName(), AgentVersion: version})
	if err != nil && replacing {
		return fmt.Errorf("%w\nThe old bindings are unlinked; run this again (with --replace) with a working code", err)
	}
	if err != nil {
		return err
	}
	if resp.Credential != "" {
		cfg.Credential, cfg.AgentID = resp.Credential, resp.AgentID
	}
	cfg.Bindings = append(cfg.Bindings, config.Binding{
		ConnectionID: resp.ConnectionID, CompanyID: resp.CompanyID, PlatformKey: *src, Path: abs,
	})
	if err := config.Save(*path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Linked: connection %s of company %s now syncs %s from %s.\nConfiguration saved to %s (owner-only).\n",
		resp.ConnectionID, resp.CompanyID, *src, abs, *path)
	warnUnreadable(stdout, *path, abs)
	return nil
}

// linkConfig is the config a link adds its binding to: the old one when
// it is of target (or of no coordinator yet), a fresh one with --replace
// or when the old holds no agent. A config holding an agent of another
// coordinator is refused here, before anything is sent anywhere: its
// credential goes to no other coordinator.
func linkConfig(path string, old config.Config, target string, replace bool, via route) (config.Config, error) {
	if !replace && holdsAgent(old) && !config.SameCoordinator(old.Coordinator, target) {
		return old, otherCoordinator(path, old, target)
	}
	cfg := old
	if replace || (old.Coordinator != "" && !config.SameCoordinator(old.Coordinator, target)) {
		cfg = fresh(old, target)
	}
	cfg.Coordinator = cmp.Or(cfg.Coordinator, target)
	via.apply(&cfg)
	if err := config.CheckURL(cfg.Coordinator, cfg.Insecure); err != nil {
		return cfg, fmt.Errorf("coordinator: %w", err)
	}
	if err := config.CheckProxy(cfg.Proxy); err != nil {
		return cfg, fmt.Errorf("--proxy: %w", err)
	}
	_, err := transport.New(cfg, nil)
	return cfg, err
}

// route is what link is told of the way to the coordinator; the config
// keeps it.
type route struct {
	insecure                        bool
	caFile, proxy, proxyCredentials string
}

// apply sets what was given on cfg; what was not keeps the config's.
func (r route) apply(cfg *config.Config) {
	cfg.Insecure = cfg.Insecure || r.insecure
	if r.caFile != "" {
		cfg.CAFile = absPath(r.caFile)
	}
	switch r.proxy {
	case "":
	case "none":
		cfg.Proxy, cfg.ProxyCredentialsFile = "", ""
	default:
		cfg.Proxy = r.proxy
	}
	if r.proxyCredentials != "" {
		cfg.ProxyCredentialsFile = absPath(r.proxyCredentials)
	}
}

// absPath is path made absolute, for a config a service reads from
// another working directory.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// holdsAgent reports whether a config holds an agent of a coordinator: a
// credential, or bindings.
func holdsAgent(cfg config.Config) bool { return cfg.Credential != "" || len(cfg.Bindings) > 0 }

// fresh is a config for a new agent of target: no credential, no
// bindings, the old config's local settings (its concurrency and proxy:
// the machine's network stays the same).
func fresh(old config.Config, target string) config.Config {
	cfg := config.Default()
	if old.Concurrency > 0 {
		cfg.Concurrency = old.Concurrency
	}
	cfg.Coordinator, cfg.Proxy, cfg.ProxyCredentialsFile = target, old.Proxy, old.ProxyCredentialsFile
	return cfg
}

// otherCoordinator refuses to link a config that holds another
// coordinator's agent, naming both coordinators and the two ways out.
func otherCoordinator(path string, old config.Config, target string) error {
	return fmt.Errorf(`%s holds an agent of the coordinator %s (%d binding(s)); refusing to link it to %s: an agent's credential only ever goes to the coordinator that issued it. Either
  keep both: link a second agent with its own config, e.g. ferry-agent link --config OTHER_FILE --coordinator %s ...
  or move this agent: ferry-agent link --replace --coordinator %s ... (unlinks its binding(s) at %s first)`,
		path, old.Coordinator, len(old.Bindings), target, target, target, old.Coordinator)
}

// unlinkAll is --replace: it ends every binding of the old config at its
// own coordinator, with its own credential, and says so. A binding that
// coordinator no longer knows (or a credential it revoked) is already
// ended. When some could not be unlinked, it stops, unless force; the
// config then keeps the bindings still linked.
func unlinkAll(stdout, stderr io.Writer, path string, old config.Config, force bool) error {
	fmt.Fprintf(stdout, "Replacing the agent of %s: unlinking its %d binding(s) there first.\n", old.Coordinator, len(old.Bindings))
	client, err := unlinkClient(old, 2)
	if err != nil {
		return err
	}
	var failed []error
	for _, b := range slices.Clone(old.Bindings) {
		err := unlinkOne(client, &old, b.ConnectionID)
		var ref *refusal
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "Unlinked connection %s at %s.\n", b.ConnectionID, old.Coordinator)
		case errors.As(err, &ref) && (ref.Code == protocol.CodeNotFound || ref.Code == protocol.CodeUnauthorized):
			dropBinding(&old, b.ConnectionID)
			fmt.Fprintf(stdout, "Connection %s was already ended at %s (%s).\n", b.ConnectionID, old.Coordinator, ref.Message)
		default:
			failed = append(failed, fmt.Errorf("connection %s: %w", b.ConnectionID, err))
		}
	}
	// The config keeps what is still linked, whatever happens next.
	if err := config.Save(path, old); err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("could not unlink %d binding(s) at %s, so nothing was linked (%w).\nRun this again when %s answers, or add --force to link anyway: those bindings then stay linked at %s until its client unlinks them",
			len(failed), old.Coordinator, errors.Join(failed...), old.Coordinator, old.Coordinator)
	}
	fmt.Fprintf(stderr, "Warning: %d binding(s) could not be unlinked at %s and stay linked there until its client unlinks them: %v\n",
		len(failed), old.Coordinator, errors.Join(failed...))
	return nil
}

// exchange posts the link request; an agent with a credential sends it so
// the binding joins the same agent.
func exchange(cfg config.Config, req protocol.LinkRequest) (protocol.LinkResponse, error) {
	var out protocol.LinkResponse
	path, err := transport.New(cfg, nil)
	if err != nil {
		return out, err
	}
	// A link code is single-use: a request whose answer was lost must not
	// be sent again, or its retry is refused as "already used".
	client := upload.NewOnceClient(slog.New(slog.DiscardHandler), path.HTTPTransport())
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequest("POST", cfg.Coordinator+protocol.LinkPath, bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if cfg.Credential != "" {
		hreq.Header.Set("Authorization", "Bearer "+cfg.Credential)
	}
	return out, callJSON(client.StandardClient(), hreq, &out)
}

// callJSON does a request and decodes a JSON answer, turning a protocol
// error body into a message a person understands.
func callJSON(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("reach the coordinator: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var perr protocol.Error
		if json.Unmarshal(raw, &perr) == nil && perr.Message != "" {
			return &refusal{Code: perr.Code, Message: perr.Message}
		}
		return fmt.Errorf("the coordinator answered %s", resp.Status)
	}
	return json.Unmarshal(raw, out)
}

// refusal is the coordinator's protocol error answer to a call.
type refusal struct {
	Code    protocol.Code
	Message string
}

func (r *refusal) Error() string { return "the coordinator refused: " + r.Message }
