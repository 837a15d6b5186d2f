package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// bundleTimeout bounds collecting and uploading one support bundle.
const bundleTimeout = 2 * time.Minute

// onSupportBundle collects and uploads a support bundle off the read loop,
// one at a time: a request that comes while one runs is dropped (support
// sees it Collecting and asks again).
func (w *Worker) onSupportBundle(ctx context.Context, m protocol.Message) {
	if w.cfg.Bundle == nil {
		w.ignoreUnasked(m)
		return
	}
	id := m.SupportBundle.BundleID
	w.mu.Lock()
	busy := w.bundling
	w.bundling = true
	w.mu.Unlock()
	if busy {
		w.log.Warn("support bundle asked while another is collected; dropped", "bundle", id)
		return
	}
	w.jobWG.Add(1)
	go func() {
		defer w.jobWG.Done()
		err := w.sendBundle(ctx, id)
		w.mu.Lock()
		w.bundling = false
		w.mu.Unlock()
		if err != nil {
			w.log.Warn("support bundle not sent", "bundle", id, "err", err)
		}
	}()
}

// sendBundle collects the bundle and uploads it with the agent's
// credential.
func (w *Worker) sendBundle(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, bundleTimeout)
	defer cancel()
	var buf bytes.Buffer
	if err := w.cfg.Bundle(ctx, &buf); err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPut, w.cfg.Coordinator+protocol.BundlePath(id), buf.Bytes())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+w.cfg.Credential)
	req.Header.Set("Content-Type", protocol.BundleContentType)
	resp, err := w.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxMessageBytes))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upload: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	w.log.Info("support bundle sent", "bundle", id, "bytes", buf.Len())
	return nil
}

// features are the optional messages this worker understands, for its
// hello.
func (w *Worker) features() []string {
	fs := []string{protocol.FeatureLastPage}
	if w.cfg.Bundle != nil {
		fs = append(fs, protocol.FeatureSupportBundle)
	}
	if w.cfg.LogLevel != nil {
		fs = append(fs, protocol.FeatureLogLevel)
	}
	if w.cfg.Update != nil && w.cfg.Update.Able() == nil {
		fs = append(fs, protocol.FeatureUpdate)
	}
	return fs
}
