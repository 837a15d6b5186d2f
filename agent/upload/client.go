// Package upload is the agent's data plane: the HTTP client every agent
// call goes through, with its retry policy, and the PageWriter that sends
// a dataset's records to the coordinator as gzip NDJSON pages, then
// commits them.
package upload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// The retry policy.
const (
	retryWaitMin = 200 * time.Millisecond
	retryWaitMax = 10 * time.Second
	retryMax     = 8
	// maxRetryAfter bounds how long a Retry-After may hold a request back.
	maxRetryAfter = 2 * time.Minute
	// attemptTimeout bounds one attempt, body upload included.
	attemptTimeout = 2 * time.Minute
)

// NewHTTPClient returns the client for the agent's HTTP calls: up to
// retryMax retries of what IsRetryable says may succeed later, waiting
// between them with exponential backoff and full jitter (200 ms to 10 s)
// or as long as the server's Retry-After says. Redirects are not followed.
// When it gives up on a response (a 503 retried to the end) it returns that
// response, not an error, so the caller reads the server's error body.
// transport opens the connections (the agent's is a transport.Path's, which
// goes through its proxy); nil is http.DefaultTransport's settings.
func NewHTTPClient(logger *slog.Logger, transport http.RoundTripper) *retryablehttp.Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2 * protocol.PagesInFlight // as transport.Path's
		transport = t
	}
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{
		Transport: transport,
		Timeout:   attemptTimeout,
		// A redirected upload would be a misconfigured URL; say so rather
		// than follow it with the credential.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.Logger = leveledLogger{logger}
	c.RetryWaitMin, c.RetryWaitMax, c.RetryMax = retryWaitMin, retryWaitMax, retryMax
	c.CheckRetry = checkRetry
	c.Backoff = backoff
	c.ErrorHandler = giveUp
	return c
}

// IsRetryable reports whether a request that ended in resp or err may
// succeed if sent again: network faults and timeouts, and the statuses
// 429, 500, 502, 503 and 504. Anything else will fail the same way again:
// other statuses (a 4xx refusal, a redirect), a certificate the agent does
// not trust, a server that does not speak TLS, a proxy's refusal, a
// cancelled request.
func IsRetryable(resp *http.Response, err error) bool {
	if err != nil {
		return !permanent(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsRetryableOnce is IsRetryable for a request that must not take effect
// twice, such as redeeming a single-use link code: it may be sent again
// only when it cannot have reached the server's handler. That is when the
// connection was never made, or the server answered 429 or 503, which it
// does before acting. A connection that broke after the request was sent
// is not retried: the server may have acted and the answer been lost. A
// proxy that could not be reached, or broke off before its tunnel was
// made, never passed the request on.
func IsRetryableOnce(resp *http.Response, err error) bool {
	if err != nil {
		var op *net.OpError
		var proxy *transport.ProxyUnreachableError
		return (errors.As(err, &op) && op.Op == "dial" || errors.As(err, &proxy)) && !permanent(err)
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
}

// NewOnceClient is NewHTTPClient for requests that must not take effect
// twice: it retries only what IsRetryableOnce allows.
func NewOnceClient(logger *slog.Logger, transport http.RoundTripper) *retryablehttp.Client {
	c := NewHTTPClient(logger, transport)
	c.CheckRetry = checkRetryBy(IsRetryableOnce)
	return c
}

// permanent reports whether err will happen again however often the
// request is sent.
func permanent(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		notTLS    tls.RecordHeaderError
	)
	return errors.Is(err, context.Canceled) || transport.Permanent(err) ||
		errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &notTLS)
}

// checkRetry is the client's CheckRetry: IsRetryable, unless the request's
// context is done.
var checkRetry = checkRetryBy(IsRetryable)

// checkRetryBy is a CheckRetry that asks retryable, unless the request's
// context is done.
func checkRetryBy(retryable func(*http.Response, error) bool) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return retryable(resp, err), nil
	}
}

// backoff is the client's Backoff. A Retry-After (seconds or an HTTP date)
// is honoured, up to maxRetryAfter, plus up to a tenth more so that agents
// told the same moment do not all come back at once. Otherwise the wait is
// drawn at random between lo and lo·2^(attempt+1), capped at hi.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			d = min(max(d, lo), maxRetryAfter)
			return d + rand.N(d/10+1)
		}
	}
	ceil := lo << min(attempt+1, 30)
	if ceil > hi || ceil <= 0 {
		ceil = hi
	}
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo+1)
}

// RetryAfter parses a Retry-After header, delay-seconds or an HTTP date,
// as a wait from now.
func RetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(h, 10, 64); err == nil {
		return time.Duration(min(secs, uint64(maxRetryAfter/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// giveUp is the client's ErrorHandler, called when no more attempts will
// be made. The last response, if there is one, goes to the caller, who
// reads the server's reason from it.
func giveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if resp != nil && err == nil {
		return resp, nil
	}
	if resp != nil {
		resp.Body.Close()
	}
	if attempts > 1 {
		return nil, fmt.Errorf("giving up after %d attempts: %w", attempts, err)
	}
	return nil, err
}

// leveledLogger adapts slog to retryablehttp's LeveledLogger. It passes on
// only the attributes retryablehttp logs about a request (method, URL
// without password, error, wait), never headers or bodies. A failed
// attempt is a warning: the caller gets the final error and logs it.
type leveledLogger struct{ l *slog.Logger }

func (a leveledLogger) Error(msg string, kv ...any) { a.l.Warn(msg, loggable(kv)...) }
func (a leveledLogger) Warn(msg string, kv ...any)  { a.l.Warn(msg, loggable(kv)...) }
func (a leveledLogger) Info(msg string, kv ...any)  { a.l.Info(msg, loggable(kv)...) }
func (a leveledLogger) Debug(msg string, kv ...any) { a.l.Debug(msg, loggable(kv)...) }

var loggableKeys = map[string]string{
	"method": "method", "url": "url", "error": "error", "request": "request",
	"timeout": "wait", "remaining": "retriesLeft",
}

func loggable(kv []any) []any {
	var out []any
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && loggableKeys[k] != "" {
			out = append(out, loggableKeys[k], kv[i+1])
		}
	}
	return out
}
