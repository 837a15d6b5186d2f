// Package bundle collects an agent's support bundle: one gzip tar that
// support staff read when they cannot log in to the machine. It holds the
// agent's recent log (its own log files, each cut to its last
// MaxLogBytes), its configuration with every secret removed, the
// diagnostics (agent/diagnose), its versions, the account it runs as and
// the bound books' metadata (path, size, modification time, format: never
// a byte of their contents beyond the few that name the format). The
// worker uploads it when support asks (POST /agents/{id}/supportBundle);
// `ferry-agent bundle --out FILE` writes it where the coordinator cannot
// be reached.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Bounds on what a bundle holds.
const (
	// MaxLogBytes is how much of each log file a bundle keeps: its end.
	MaxLogBytes = 1 << 20
	// maxFolderEntries bounds the entries listed of a bound folder.
	maxFolderEntries = 200
)

// Input is what a bundle is collected from.
type Input struct {
	// ConfigPath is the agent's config file; its log files are beside it
	// (LogPath).
	ConfigPath string
	// Version is the agent's version.
	Version string
	// Checks runs the diagnostics (agent/diagnose); nil for none.
	Checks func(ctx context.Context) []protocol.Check
	// Now is when the bundle is made.
	Now time.Time
}

// Write collects a bundle into w as a gzip tar of at most
// protocol.MaxBundleBytes; what cannot be read is noted in the bundle
// (errors.txt) rather than failing it.
func Write(ctx context.Context, w io.Writer, in Input) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	var problems bytes.Buffer
	add := func(name string, data []byte) {
		if err := addFile(tw, name, data, in.Now); err != nil {
			fmt.Fprintf(&problems, "%s: %v\n", name, err)
		}
	}
	addJSON := func(name string, v any) {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			fmt.Fprintf(&problems, "%s: %v\n", name, err)
			return
		}
		add(name, append(data, '\n'))
	}
	add("README.txt", []byte(readme))
	addJSON("versions.json", versions(in))
	cfg, raw, err := readConfig(in.ConfigPath)
	if err != nil {
		fmt.Fprintf(&problems, "config.json: %v\n", err)
	} else {
		add("config.json", raw)
	}
	addJSON("account.json", account())
	addJSON("books.json", books(cfg.Bindings))
	if in.Checks != nil {
		addJSON("diagnostics.json", in.Checks(ctx))
	}
	for _, name := range []string{LogPath(in.ConfigPath), LogPath(in.ConfigPath) + ".1"} {
		data, err := tail(name, MaxLogBytes)
		if err != nil {
			if !os.IsNotExist(err) {
				fmt.Fprintf(&problems, "log %s: %v\n", name, err)
			}
			continue
		}
		add("logs/"+filepath.Base(name), data)
	}
	if problems.Len() > 0 {
		add("errors.txt", problems.Bytes())
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if buf.Len() > protocol.MaxBundleBytes {
		return fmt.Errorf("bundle: %d bytes, over %d", buf.Len(), protocol.MaxBundleBytes)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

const readme = `A Ferry agent's support bundle.

versions.json     the agent's version, Go, operating system, protocol
config.json       the agent's configuration, every secret removed
account.json      the account the agent runs as
books.json        each bound book or folder: path, size, modified, format
                  (never its contents)
diagnostics.json  the agent's self-checks (as ferry-agent diagnose)
logs/             the end of the agent's log files
errors.txt        what could not be collected, if anything
`

func addFile(tw *tar.Writer, name string, data []byte, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: at}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// versionsInfo is versions.json.
type versionsInfo struct {
	Agent    string `json:"agent"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Protocol int    `json:"protocol"`
	Hostname string `json:"hostname"`
	Made     string `json:"made"`
}

func versions(in Input) versionsInfo {
	host, _ := os.Hostname()
	return versionsInfo{Agent: in.Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Protocol: protocol.Version, Hostname: host, Made: in.Now.UTC().Format(time.RFC3339)}
}

// accountInfo is account.json.
type accountInfo struct {
	User  string `json:"user,omitempty"`
	UID   string `json:"uid,omitempty"`
	GID   string `json:"gid,omitempty"`
	Home  string `json:"home,omitempty"`
	Error string `json:"error,omitempty"`
}

func account() accountInfo {
	u, err := user.Current()
	if err != nil {
		return accountInfo{Error: err.Error()}
	}
	return accountInfo{User: u.Username, UID: u.Uid, GID: u.Gid, Home: u.HomeDir}
}

// readConfig reads the config and returns it with its redacted JSON.
func readConfig(path string) (config.Config, []byte, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, nil, err
	}
	red, err := Redact(raw)
	return cfg, red, err
}

// tail returns the last max bytes of the file at path.
func tail(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		if _, err := f.Seek(st.Size()-max, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(io.LimitReader(f, max))
}
