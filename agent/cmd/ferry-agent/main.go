// Command ferry-agent is Ferry's connector agent: it links to a coordinator
// with a one-time code, then runs (as a service or in the foreground),
// syncing the local books it is bound to.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ferry-sync/ferry/shared/release"
)

var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

const usage = `usage: ferry-agent <command> [flags]

commands:
  link      exchange a link code for a binding: --coordinator URL --code CODE --source csv|gnucash --path PATH
            (--replace: move a config linked to another coordinator, unlinking it there first)
  unlink    end a binding from this side: --connection ID (or the only one), or --all
  run       run in the foreground until interrupted (--service: as the system service)
  install   register the agent as a system service (Windows service, systemd or SysV) running as a low-privilege account
  uninstall stop the service and remove its registration
  start, stop, restart
            control the service
  status    show bindings, connection state and datasets in hand
  diagnose  check each source is readable, free disk, the version, the clock and the credential against the coordinator
  bundle    write a support bundle (logs, config without secrets, diagnostics, books' metadata) to --out FILE
  selftest  check this binary can run here: read the config, open each bound book, reach the coordinator (--timeout; an update runs it before the swap)
  version   print version, commit and build date, and the release roots trusted

every command takes --config FILE (default ` + "%s" + `)
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ferry-agent:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, defaultConfigPath())
		return errors.New("a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "link":
		return cmdLink(rest, stdout, stderr)
	case "unlink":
		return cmdUnlink(rest, stdout, stderr)
	case "run":
		return cmdRun(rest, stderr)
	case "install", "uninstall", "start", "stop", "restart":
		return cmdService(cmd, rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "diagnose":
		return cmdDiagnose(rest, stdout, stderr)
	case "bundle":
		return cmdBundle(rest, stdout, stderr)
	case "selftest":
		return cmdSelfTest(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "ferry-agent %s (commit %s, built %s)\n", version, commit, date)
		return printRoots(stdout)
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, defaultConfigPath())
		return nil
	}
	fmt.Fprintf(stderr, usage, defaultConfigPath())
	return fmt.Errorf("unknown command %q", cmd)
}

func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// printRoots prints the release root public keys compiled into the agent
// (make release), when there are any: the releases it would trust.
func printRoots(w io.Writer) error {
	roots, err := release.Roots()
	if err != nil || len(roots) == 0 {
		return err
	}
	keys := make([]string, len(roots))
	for i, k := range roots {
		keys[i] = release.FormatPublicKey(k)
	}
	_, err = fmt.Fprintf(w, "release roots: %s\n", strings.Join(keys, ","))
	return err
}
