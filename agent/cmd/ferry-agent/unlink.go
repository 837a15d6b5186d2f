package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func cmdUnlink(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("unlink", stderr)
	conn := fs.String("connection", "", "the connection to unlink (default: the only one)")
	all := fs.Bool("all", false, "unlink every binding (what uninstalling the agent does)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		if *all && config.IsNotExist(err) {
			return nil
		}
		return err
	}
	targets := []string{*conn}
	switch {
	case *all:
		targets = nil
		for _, b := range cfg.Bindings {
			targets = append(targets, b.ConnectionID)
		}
	case *conn == "" && len(cfg.Bindings) != 1:
		return errors.New("several bindings: name one with --connection")
	case *conn == "":
		targets = []string{cfg.Bindings[0].ConnectionID}
	}
	client, err := unlinkClient(cfg, -1)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range targets {
		if err := unlinkOne(client, &cfg, id); err != nil {
			errs = append(errs, fmt.Errorf("connection %s: %w", id, err))
			continue
		}
		if err := config.Save(*path, cfg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Unlinked connection %s; the data already synced stays readable.\n", id)
	}
	return errors.Join(errs...)
}

// unlinkClient is the client for unlink calls to cfg's coordinator;
// retries < 0 keeps the ordinary retry policy.
func unlinkClient(cfg config.Config, retries int) (*http.Client, error) {
	path, err := transport.New(cfg, nil)
	if err != nil {
		return nil, err
	}
	c := upload.NewHTTPClient(slog.New(slog.DiscardHandler), path.HTTPTransport())
	if retries >= 0 {
		c.RetryMax = retries
	}
	return c.StandardClient(), nil
}

// unlinkOne tells cfg's coordinator, with cfg's credential, that this
// side ends the binding, then drops it from cfg.
func unlinkOne(client *http.Client, cfg *config.Config, conn string) error {
	if !slices.ContainsFunc(cfg.Bindings, func(b config.Binding) bool { return b.ConnectionID == conn }) {
		return fmt.Errorf("no binding for connection %s", conn)
	}
	body, _ := json.Marshal(protocol.UnlinkRequest{ConnectionID: conn})
	req, err := http.NewRequest("POST", cfg.Coordinator+protocol.UnlinkPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Credential)
	req.Header.Set("Content-Type", "application/json")
	var out map[string]string
	if err := callJSON(client, req, &out); err != nil {
		return err
	}
	dropBinding(cfg, conn)
	return nil
}

func dropBinding(cfg *config.Config, conn string) {
	cfg.Bindings = slices.DeleteFunc(cfg.Bindings, func(b config.Binding) bool { return b.ConnectionID == conn })
}
