// Package diagnose is the agent's self-check: each bound source readable,
// free disk where the agent keeps its files, the clock against the
// coordinator's, the version. `ferry-agent diagnose` runs it locally; the
// worker runs it when the coordinator sends diagnose (support's
// POST /agents/{id}/diagnostics), where the coordinator adds the clock check.
package diagnose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/source/gnucash"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Thresholds of the disk check.
const (
	DiskWarnBytes = 1 << 30   // under 1 GiB free: Warn
	DiskFailBytes = 100 << 20 // under 100 MiB free: Fail
	// MaxClockSkew is the skew the clock check still passes.
	MaxClockSkew = 30 * time.Second
)

// Config is what the checks look at.
type Config struct {
	Bindings []config.Binding
	// Dir is where the agent keeps its files (its config, its status).
	Dir     string
	Version string
}

// Run runs the local checks: a source check per binding, the disk and the
// version, in that order.
func Run(ctx context.Context, cfg Config) []protocol.Check {
	var out []protocol.Check
	for _, b := range cfg.Bindings {
		if ctx.Err() != nil {
			break
		}
		out = append(out, Source(b))
	}
	out = append(out, Disk(cfg.Dir), protocol.Check{Name: protocol.CheckVersion, Status: protocol.CheckPass,
		Message: "ferry-agent " + cfg.Version})
	return out
}

// Source checks that a binding's local data can be read now: a CSV folder
// listed (with at least one .csv file), a GnuCash book opened and read.
//
// On Windows a path on a mapped network drive, or a network path while the
// agent runs as a service, is a Warn that says why it may not be seen.
func Source(b config.Binding) protocol.Check {
	kind, service := pathKind(b.Path)
	return withAdvice(source(b), pathAdvice(b.Path, kind, service))
}

// withAdvice adds the path's advice to a check: a Pass becomes a Warn.
func withAdvice(c protocol.Check, advice string) protocol.Check {
	if advice == "" {
		return c
	}
	if c.Status == protocol.CheckPass {
		c.Status = protocol.CheckWarn
	}
	c.Message += "; " + advice
	return c
}

func source(b config.Binding) protocol.Check {
	c := protocol.Check{Name: protocol.CheckSource, ConnectionID: b.ConnectionID, Status: protocol.CheckFail}
	st, err := os.Stat(b.Path)
	if err != nil {
		c.Message = fmt.Sprintf("%s %s: %s", b.PlatformKey, b.Path, cause(err))
		return c
	}
	if st.IsDir() {
		entries, err := os.ReadDir(b.Path)
		if err != nil {
			c.Message = fmt.Sprintf("folder %s cannot be listed: %s", b.Path, cause(err))
			return c
		}
		n := 0
		for _, e := range entries {
			if strings.EqualFold(filepath.Ext(e.Name()), ".csv") {
				n++
			}
		}
		c.Status, c.Value = protocol.CheckPass, int64(n)
		c.Message = fmt.Sprintf("folder %s readable, %d CSV files", b.Path, n)
		if n == 0 {
			c.Status = protocol.CheckWarn
		}
		return c
	}
	// Opened as the connector opens it: GnuCash may save meanwhile.
	f, err := gnucash.OpenBookFile(b.Path)
	if err != nil {
		c.Message = fmt.Sprintf("file %s cannot be opened: %s", b.Path, cause(err))
		return c
	}
	defer f.Close()
	if _, err := f.Read(make([]byte, 512)); err != nil && err != io.EOF {
		c.Message = fmt.Sprintf("file %s cannot be read: %s", b.Path, cause(err))
		return c
	}
	c.Status, c.Value = protocol.CheckPass, st.Size()
	c.Message = fmt.Sprintf("file %s readable, %d bytes, modified %s", b.Path, st.Size(), st.ModTime().UTC().Format(time.RFC3339))
	return c
}

// Disk checks the free space of the volume holding dir.
func Disk(dir string) protocol.Check {
	c := protocol.Check{Name: protocol.CheckDisk, Status: protocol.CheckPass}
	free, err := freeBytes(dir)
	if err != nil {
		c.Status, c.Message = protocol.CheckWarn, fmt.Sprintf("free space of %s unknown: %s", dir, cause(err))
		return c
	}
	c.Value = int64(free)
	c.Message = fmt.Sprintf("%d MiB free on the volume of %s", free>>20, dir)
	switch {
	case free < DiskFailBytes:
		c.Status = protocol.CheckFail
	case free < DiskWarnBytes:
		c.Status = protocol.CheckWarn
	}
	return c
}

// Clock compares this machine's clock with the coordinator's, from the
// Date header of its /healthz (one-second resolution, so skew under a
// second is not seen).
func Clock(ctx context.Context, client *http.Client, coordinator string) protocol.Check {
	c := protocol.Check{Name: protocol.CheckClock, Status: protocol.CheckWarn}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(coordinator, "/")+"/healthz", nil)
	if err != nil {
		c.Message = err.Error()
		return c
	}
	sent := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		c.Status, c.Message = protocol.CheckFail, "coordinator unreachable: "+err.Error()
		return c
	}
	resp.Body.Close()
	got := time.Now()
	at, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		c.Message = "the coordinator sent no Date header"
		return c
	}
	// Date is truncated to the second: compare with the middle of the round
	// trip, give or take that second.
	skew := sent.Add(got.Sub(sent) / 2).Sub(at.Add(500 * time.Millisecond))
	c.Value = skew.Milliseconds()
	c.Message = fmt.Sprintf("clock is %s off the coordinator's (±1s)", skew.Round(time.Second))
	if skew.Abs() <= MaxClockSkew {
		c.Status = protocol.CheckPass
	}
	return c
}

// Credential asks the coordinator whether it accepts the agent's
// credential: a plain GET of the control channel's path with it, which the
// coordinator answers 401 before anything else when it refuses the
// credential, and otherwise refuses for not being a websocket upgrade.
func Credential(ctx context.Context, client *http.Client, coordinator, credential string) protocol.Check {
	c := protocol.Check{Name: protocol.CheckCredential, Status: protocol.CheckFail}
	if credential == "" {
		c.Message = "no credential in the config: run ferry-agent link"
		return c
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(coordinator, "/")+protocol.ConnectPath, nil)
	if err != nil {
		c.Message = err.Error()
		return c
	}
	req.Header.Set("Authorization", "Bearer "+credential)
	// Never follow a redirect with the credential: Go's client would send
	// it on to the same host's other ports and to subdomains.
	once := *client
	once.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := once.Do(req)
	if err != nil {
		c.Message = "coordinator unreachable: " + err.Error()
		return c
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		c.Message = fmt.Sprintf("the coordinator redirects (%s to %q): not followed, the credential goes to the configured URL only; link to the coordinator's real URL", resp.Status, resp.Header.Get("Location"))
		return c
	}
	if resp.StatusCode == http.StatusUnauthorized {
		c.Message = "the coordinator refuses this agent's credential (revoked or unlinked): run ferry-agent link again"
		return c
	}
	c.Status, c.Message = protocol.CheckPass, "the coordinator accepts this agent's credential"
	return c
}

// cause is an error without the path os.PathError repeats.
func cause(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
