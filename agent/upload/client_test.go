package upload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

func TestIsRetryable(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Put", URL: "https://c/x", Err: err} }
	errs := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"connection reset", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"server hung up", urlErr(io.EOF), true},
		{"attempt timeout", urlErr(context.DeadlineExceeded), true},
		{"dns", urlErr(&net.DNSError{Err: "no such host", Name: "c", IsTemporary: true}), true},
		{"cancelled", urlErr(context.Canceled), false},
		{"unknown authority", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"bare unknown authority", urlErr(x509.UnknownAuthorityError{}), false},
		{"wrong host", urlErr(x509.HostnameError{Host: "c"}), false},
		{"expired", urlErr(x509.CertificateInvalidError{Reason: x509.Expired}), false},
		{"not TLS", urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false},
	}
	for _, tt := range errs {
		if got := IsRetryable(nil, tt.err); got != tt.want {
			t.Errorf("%s: IsRetryable = %v, want %v", tt.name, got, tt.want)
		}
	}
	statuses := map[int]bool{
		200: false, 301: false, 400: false, 401: false, 404: false, 408: false, 409: false, 413: false,
		429: true, 500: true, 501: false, 502: true, 503: true, 504: true, 505: false,
	}
	for status, want := range statuses {
		if got := IsRetryable(&http.Response{StatusCode: status}, nil); got != want {
			t.Errorf("HTTP %d: IsRetryable = %v, want %v", status, got, want)
		}
	}
}

func TestCheckRetryStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	retry, err := checkRetry(ctx, &http.Response{StatusCode: 503}, nil)
	if retry || !errors.Is(err, context.Canceled) {
		t.Errorf("checkRetry = %v, %v, want no retry and context.Canceled", retry, err)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	for attempt := range 12 {
		ceil := min(retryWaitMin<<(attempt+1), retryWaitMax)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 500 {
			d := backoff(retryWaitMin, retryWaitMax, attempt, nil)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < retryWaitMin || hi > ceil {
			t.Errorf("attempt %d: waits %v to %v, want within %v to %v", attempt, lo, hi, retryWaitMin, ceil)
		}
		if hi-lo < (ceil-retryWaitMin)/2 {
			t.Errorf("attempt %d: waits %v to %v, not spread over %v to %v", attempt, lo, hi, retryWaitMin, ceil)
		}
	}
}

func TestBackoffRetryAfter(t *testing.T) {
	resp := func(h string) *http.Response {
		return &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {h}}}
	}
	tests := []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7*time.Second + 700*time.Millisecond},
		{time.Now().Add(time.Minute).UTC().Format(http.TimeFormat), 58 * time.Second, 67 * time.Second},
		{"0", retryWaitMin, retryWaitMin + retryWaitMin/10},
		{"86400", maxRetryAfter, maxRetryAfter + maxRetryAfter/10},
		{"soon", retryWaitMin, retryWaitMax}, // unparseable: the usual backoff
	}
	for _, tt := range tests {
		if d := backoff(retryWaitMin, retryWaitMax, 3, resp(tt.header)); d < tt.min || d > tt.max {
			t.Errorf("Retry-After %q: wait %v, want %v to %v", tt.header, d, tt.min, tt.max)
		}
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true}, // past
		{"99999999999999999999", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"later", 0, false},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(tt.h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v, want %v, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

// A server whose certificate the agent does not trust is not retried.
func TestUntrustedCertificateNotRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client := NewHTTPClient(nil, &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}})
	retries := 0
	client.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { retries++; return 0 }
	_, err := client.Get(srv.URL)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || retries != 0 {
		t.Errorf("Get = %v after %d retries, want a certificate error, not retried", err, retries)
	}
	// With the server's certificate trusted, the same client goes through.
	trusted := NewHTTPClient(nil, srv.Client().Transport)
	resp, err := trusted.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// Network faults are retried, and when they last the error says so.
func TestNetworkFaultRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	client := NewHTTPClient(nil, nil)
	client.RetryMax = 2
	client.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 }
	_, err = client.Get("http://" + addr)
	var opErr *net.OpError
	if !errors.As(err, &opErr) || err.Error() == "" {
		t.Fatalf("Get = %v, want a network error", err)
	}
	if want := fmt.Sprintf("giving up after %d attempts", 3); !strings.Contains(err.Error(), want) {
		t.Errorf("Get = %v, want it to say %q", err, want)
	}
}

var _ retryablehttp.LeveledLogger = leveledLogger{}

func TestIsRetryableOnce(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "https://c/x", Err: err} }
	errs := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"connection reset after sending", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), false},
		{"server hung up", urlErr(io.EOF), false},
		{"attempt timeout", urlErr(context.DeadlineExceeded), false},
		{"cancelled", urlErr(context.Canceled), false},
		{"unknown authority", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
	}
	for _, tt := range errs {
		if got := IsRetryableOnce(nil, tt.err); got != tt.want {
			t.Errorf("%s: IsRetryableOnce = %v, want %v", tt.name, got, tt.want)
		}
	}
	statuses := map[int]bool{200: false, 400: false, 409: false, 429: true, 500: false, 502: false, 503: true, 504: false}
	for status, want := range statuses {
		if got := IsRetryableOnce(&http.Response{StatusCode: status}, nil); got != want {
			t.Errorf("HTTP %d: IsRetryableOnce = %v, want %v", status, got, want)
		}
	}
}

// A single-use request whose connection breaks after the server read it is
// sent once; the ordinary client would send it again.
func TestOnceClientDoesNotRepeatARequestThatArrived(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client *retryablehttp.Client
		want   int
	}{
		{"once", NewOnceClient(nil, nil), 1},
		{"ordinary", NewHTTPClient(nil, nil), 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var received atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				received.Add(1)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close() // the request arrived; the answer is lost
				}
			}))
			defer srv.Close()
			tt.client.RetryMax = 2
			tt.client.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 }
			_, err := tt.client.Post(srv.URL, "application/json", strings.NewReader(`{"code":"x"}`))
			if err == nil {
				t.Fatal("Post succeeded, want the broken connection's error")
			}
			if got := received.Load(); got != int32(tt.want) {
				t.Errorf("server received %d requests, want %d", got, tt.want)
			}
		})
	}
}
