package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"

	kservice "github.com/kardianos/service"
)

// SystemHandler is an slog handler that writes to the system log: the
// Event Log on Windows, syslog elsewhere (where systemd runs, the journal
// reads syslog). It fails where there is none, e.g. no /dev/log.
func SystemHandler(level slog.Leveler) (slog.Handler, error) {
	svc, err := kservice.New(idle{}, &kservice.Config{Name: Name})
	if err != nil {
		return nil, err
	}
	out, err := svc.SystemLogger(nil)
	if err != nil {
		return nil, err
	}
	h := &sysHandler{mu: new(sync.Mutex), buf: new(bytes.Buffer), out: out}
	h.text = slog.NewTextHandler(h.buf, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime})
	return h, nil
}

// sysHandler formats a record as text and hands it to the system logger
// at the matching severity; the system log stamps the time.
type sysHandler struct {
	mu   *sync.Mutex
	buf  *bytes.Buffer
	text slog.Handler
	out  kservice.Logger
}

func (h *sysHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.text.Enabled(ctx, l) }

func (h *sysHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line := strings.TrimSuffix(h.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.out.Error(line)
	case r.Level >= slog.LevelWarn:
		return h.out.Warning(line)
	}
	return h.out.Info(line)
}

func (h *sysHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *sysHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
