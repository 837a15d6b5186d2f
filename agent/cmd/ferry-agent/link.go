package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/agent/source/sources"
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
	insecure := fs.Bool("insecure", false, "allow plain http to a host that is not loopback")
	caFile := fs.String("ca-file", "", "an extra CA certificate (PEM) to trust for the coordinator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil && !config.IsNotExist(err) {
		return err
	}
	if *coordinator != "" {
		cfg.Coordinator = strings.TrimRight(*coordinator, "/")
	}
	cfg.Insecure = cfg.Insecure || *insecure
	if *caFile != "" {
		cfg.CAFile = *caFile
	}
	if cfg.Coordinator == "" || *code == "" || *src == "" || *dataPath == "" {
		return errors.New("link needs --coordinator, --code, --source and --path")
	}
	if err := config.CheckURL(cfg.Coordinator, cfg.Insecure); err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	abs, err := filepath.Abs(*dataPath)
	if err != nil {
		return err
	}
	if _, err := sources.Open(*src, abs); err != nil {
		return err
	}
	resp, err := exchange(cfg, protocol.LinkRequest{Code: *code, PlatformKey: *src, Hostname: worker.Hostname(), OS: worker.OSName(), AgentVersion: version})
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

// exchange posts the link request; an agent with a credential sends it so
// the binding joins the same agent.
func exchange(cfg config.Config, req protocol.LinkRequest) (protocol.LinkResponse, error) {
	var out protocol.LinkResponse
	tc, err := tlsConfig(cfg)
	if err != nil {
		return out, err
	}
	// A link code is single-use: a request whose answer was lost must not
	// be sent again, or its retry is refused as "already used".
	client := upload.NewOnceClient(slog.New(slog.DiscardHandler), tc)
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
			return fmt.Errorf("the coordinator refused: %s", perr.Message)
		}
		return fmt.Errorf("the coordinator answered %s", resp.Status)
	}
	return json.Unmarshal(raw, out)
}
