package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/server/servertest"
)

var sampleCSV, _ = filepath.Abs("../../../testdata/sample-csv")

// coordinator is a real coordinator in this process on a loopback port.
type coordinator struct {
	*servertest.Coordinator
	t *testing.T
}

func startCoordinator(t *testing.T) *coordinator {
	t.Helper()
	return &coordinator{servertest.Start(t, "", ""), t}
}

// newConnection creates a company and a csv connection, returning the
// company, the connection and its link code.
func (c *coordinator) newConnection() (company, conn, code string) {
	c.t.Helper()
	var co, cn struct {
		ID             string
		ConnectionInfo map[string]string
	}
	c.API("POST", "/companies", map[string]string{"name": "Acme"}, &co)
	c.API("POST", "/companies/"+co.ID+"/connections", map[string]string{"platformKey": "csv"}, &cn)
	return co.ID, cn.ID, cn.ConnectionInfo["linkCode"]
}

func (c *coordinator) connectionStatus(company, conn string) string {
	c.t.Helper()
	var cn struct{ Status string }
	c.API("GET", "/companies/"+company+"/connections/"+conn, nil, &cn)
	return cn.Status
}

// recorder stands in front of a coordinator and records the Authorization
// header of every request it passes on.
type recorder struct {
	url  string
	mu   sync.Mutex
	auth []string
}

func recordAuth(t *testing.T, c *coordinator) *recorder {
	t.Helper()
	target, _ := url.Parse(c.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	r := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// saw reports whether any request carried secret in its Authorization.
func (r *recorder) saw(secret string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auth {
		if strings.Contains(a, secret) {
			return true
		}
	}
	return false
}
