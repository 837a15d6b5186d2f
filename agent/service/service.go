// Package service installs and runs the agent as a system service: a
// Windows service, a systemd unit, or a SysV init script where systemd is
// not running. github.com/kardianos/service does the registering; this
// package decides what is registered (account, arguments, restart policy)
// and renders the unit and init script itself, so tests can read them.
package service

import (
	"fmt"
	"strings"
	"time"

	kservice "github.com/kardianos/service"
)

// Name is the service's name on every platform.
const Name = "ferry-agent"

// Settings say how the agent is registered.
type Settings struct {
	// Executable is the agent binary the service manager starts.
	Executable string
	// ConfigPath is the agent's configuration file, passed to run.
	ConfigPath string
	// User is the account the service runs as: a dedicated system user
	// on Linux, a virtual service account on Windows.
	User string
	// RestartDelay is how long the service manager waits before starting
	// the agent again after it failed.
	RestartDelay time.Duration
}

// Default is the registration for the configuration at configPath.
func Default(executable, configPath string) Settings {
	return Settings{Executable: executable, ConfigPath: configPath, User: DefaultUser, RestartDelay: 5 * time.Second}
}

// Arguments are what the service manager passes to the agent: run, as a
// service (system log), on this configuration.
func (s Settings) Arguments() []string {
	return []string{"run", "--service", "--config", s.ConfigPath}
}

// Config is the kardianos/service configuration for these settings. The
// systemd unit and the SysV script are rendered here and handed over as
// complete texts.
func (s Settings) Config() *kservice.Config {
	return &kservice.Config{
		Name:        Name,
		DisplayName: "Ferry connector agent",
		Description: "Syncs local accounting data to a Ferry coordinator.",
		UserName:    s.User,
		Executable:  s.Executable,
		Arguments:   s.Arguments(),
		Option: kservice.KeyValue{
			"SystemdScript": escapeTemplate(s.SystemdUnit()),
			"SysvScript":    escapeTemplate(s.SysVScript()),
			"OpenRCScript":  escapeTemplate(s.OpenRCScript()),
			"Restart":       "always",
			// Windows: start at boot (after the network is up), restart after
			// a crash every time, forgetting failures after a day.
			"StartType":              "automatic",
			"DelayedAutoStart":       true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": s.RestartDelay.String(),
			"OnFailureResetPeriod":   int((24 * time.Hour).Seconds()),
		},
	}
}

// escapeTemplate guards a finished text against kardianos's template
// engine, which would read "{{" as an action.
func escapeTemplate(text string) string {
	if strings.Contains(text, "{{") {
		panic(fmt.Sprintf("service text holds a template action: %q", text))
	}
	return text
}

// quoteArgs joins arguments for a unit's ExecStart or a shell line; the
// paths Ferry uses have no quotes or spaces, but a custom one might.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
