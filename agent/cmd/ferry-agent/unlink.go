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
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func cmdUnlink(args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("unlink", stderr)
	conn := fs.String("connection", "", "the connection to unlink (default: the only one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *conn == "" {
		if len(cfg.Bindings) != 1 {
			return errors.New("several bindings: name one with --connection")
		}
		*conn = cfg.Bindings[0].ConnectionID
	}
	i := slices.IndexFunc(cfg.Bindings, func(b config.Binding) bool { return b.ConnectionID == *conn })
	if i < 0 {
		return fmt.Errorf("no binding for connection %s", *conn)
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(protocol.UnlinkRequest{ConnectionID: *conn})
	req, err := http.NewRequest("POST", cfg.Coordinator+protocol.UnlinkPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Credential)
	req.Header.Set("Content-Type", "application/json")
	var out map[string]string
	if err := callJSON(upload.NewHTTPClient(slog.New(slog.DiscardHandler), tc).StandardClient(), req, &out); err != nil {
		return err
	}
	cfg.Bindings = slices.Delete(cfg.Bindings, i, i+1)
	if err := config.Save(*path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Unlinked connection %s; the data already synced stays readable.\n", *conn)
	return nil
}
