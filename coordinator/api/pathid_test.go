package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// badPathIDs are path ids no object can have, as they appear in a URL:
// a NUL, invalid UTF-8, an overlong id, an escaped '/', other control
// characters and an overlong UTF-8 encoding.
var badPathIDs = []string{
	"%00", "%FF", "%FF%FE", strings.Repeat("a", 300), "a%2Fb", "%2F", "%0A", "a%0Db", "%7F", "%C0%AF", "%1B%5B31m",
}

// objectIDs are the wildcards that name a stored object; an id that cannot
// exist is 404 not found, the same answer as an id that does not exist.
var objectIDs = map[string]bool{
	"companyId": true, "connectionId": true, "datasetId": true, "webhookId": true,
	"agentId": true, "apiKeyId": true, "recordId": true,
}

// TestBadPathIDs sends every bad id in every wildcard of every route: the
// answer is a 4xx in the error shape that cannot be retried, never a 5xx;
// an object id is 404 not found.
func TestBadPathIDs(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	good := map[string]string{
		"companyId": co, "connectionId": conn.ID, "datasetId": "ds-none", "dataType": "invoices",
		"recordId": "rec-1", "platformKey": "csv", "webhookId": "wh-none", "agentId": "agent-none",
		"apiKeyId": "key-none", "file": "logo.svg",
	}
	tested := 0
	for _, rt := range e.srv.Routes() {
		for _, bad := range pathIDs(rt.Path) {
			for _, id := range badPathIDs {
				path := rt.Path
				for _, name := range pathIDs(rt.Path) {
					v := good[name]
					if name == bad {
						v = id
					}
					path = strings.Replace(path, "{"+name+"}", v, 1)
				}
				var body any
				if rt.Method != "GET" && rt.Method != "DELETE" {
					body = "{}"
				}
				status, out := e.call(rt.Method, path, body)
				tested++
				what := rt.Method + " " + path
				if status >= 500 || status < 400 {
					t.Errorf("%s: got status %d, want a 4xx; body %s", what, status, out)
					continue
				}
				var eb errorBody
				if err := json.Unmarshal(out, &eb); err != nil || eb.StatusCode != status || eb.Error == "" || eb.CorrelationID == "" {
					t.Errorf("%s: got error body %s, want the error shape with statusCode %d", what, out, status)
					continue
				}
				if eb.CanBeRetried != "False" {
					t.Errorf("%s: got canBeRetried %q, want False", what, eb.CanBeRetried)
				}
				if objectIDs[bad] && (status != http.StatusNotFound || eb.DetailedErrorCode != CodeNotFound) {
					t.Errorf("%s: got %d code %d, want 404 code %d", what, status, eb.DetailedErrorCode, CodeNotFound)
				}
			}
		}
	}
	if tested < 100 {
		t.Fatalf("tested %d requests; the route walk found too few path ids", tested)
	}
}

// FuzzPathIDs puts arbitrary bytes in a path id of every route that has
// one: whatever arrives, the answer is never a 5xx.
func FuzzPathIDs(f *testing.F) {
	for _, seed := range []string{"co-1", "\x00", "\xff\xfe", strings.Repeat("a", 300), "a/b", "..", "%", "\u202e", "a b"} {
		f.Add(seed, uint8(0), uint8(0))
	}
	srv, _ := fuzzServer(f)
	var routes []Route
	for _, rt := range srv.Routes() {
		if len(pathIDs(rt.Path)) > 0 {
			routes = append(routes, rt)
		}
	}
	f.Fuzz(func(t *testing.T, id string, which, slot uint8) {
		rt := routes[int(which)%len(routes)]
		names := pathIDs(rt.Path)
		bad := names[int(slot)%len(names)]
		path := rt.Path
		for _, name := range names {
			v := "co-1"
			if name == bad {
				v = escapePathSegment(id)
			}
			path = strings.Replace(path, "{"+name+"}", v, 1)
		}
		req, err := http.NewRequest(rt.Method, "http://ferry.test"+path, bytes.NewReader([]byte("{}")))
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+adminKey)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", rt.Method, path, rec.Code, rec.Body)
		}
	})
}

// escapePathSegment percent-encodes every byte outside the unreserved set,
// so any string travels as one path segment.
func escapePathSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
	}
	return b.String()
}
