package server

import (
	"net/http"
	"testing"
)

// TestCORSOnlyOnTheAPI serves a whole coordinator with an allowed CORS
// origin: the API names it, the Portal and the link pages do not, and a
// preflight to the Portal is not answered as the API's.
func TestCORSOnlyOnTheAPI(t *testing.T) {
	cfg := testConfig(t)
	srv := serve(t, cfg)
	api := &apiClient{t: t, base: "http://" + srv.Addr(), key: cfg.AdminKey}
	const app = "https://app.example.com"
	api.post("/corsSettings", map[string]any{"allowedOrigins": []string{app}})

	call := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, api.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", app)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := call("GET", "/companies", map[string]string{"Authorization": "Bearer " + cfg.AdminKey}); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("the API to an allowed origin: %d, Access-Control-Allow-Origin %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	preflight := map[string]string{"Access-Control-Request-Method": "POST"}
	if r := call("OPTIONS", "/companies", preflight); r.StatusCode != 204 {
		t.Errorf("the API's preflight: %d, want 204", r.StatusCode)
	}
	for _, path := range []string{"/portal/signin", "/portal/", "/link/x/y?token=z"} {
		for _, method := range []string{"GET", "OPTIONS"} {
			r := call(method, path, preflight)
			if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" || r.StatusCode == 204 {
				t.Errorf("%s %s: %d, Access-Control-Allow-Origin %q; want the Portal and link pages untouched", method, path, r.StatusCode, v)
			}
		}
	}
}
