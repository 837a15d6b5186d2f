package main

import (
	"flag"
	"io"
	"os"

	"github.com/ferry-sync/ferry/agent/config"
)

func defaultConfigPath() string {
	if p := os.Getenv("FERRY_AGENT_CONFIG"); p != "" {
		return p
	}
	return config.DefaultPath()
}

func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("ferry-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath(), "the agent's configuration file")
	return fs, path
}
