package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
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

// tlsConfig trusts the system roots plus the config's extra CA file.
func tlsConfig(cfg config.Config) (*tls.Config, error) {
	if cfg.CAFile == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file %s holds no PEM certificate", cfg.CAFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}
