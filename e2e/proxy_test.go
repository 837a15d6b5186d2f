package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProxy runs the agent through a real Squid that wants Basic
// credentials, to a loopback coordinator (which Go's environment proxy
// would skip; --proxy is used anyway): no credentials and wrong ones are
// refused with an error naming the proxy; with them in an owner-only file
// the agent links, syncs and uploads through it, every connection a
// tunnel Squid logged under the user; with Squid killed the agent backs
// off (the process keeps running, saying the proxy cannot be reached) and
// recovers when it returns; a running agent given wrong credentials keeps
// running and logs the refusal, backing off.
func TestProxy(t *testing.T) {
	parallel(t)
	sq := startSquid(t, squidOptions{user: "ferry", password: "pr0xy-secret"})
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	company, _, code := setupConnection(t, c, "csv")
	dir := t.TempDir()
	config := filepath.Join(dir, "agent.json")
	link := []string{"link", "--config", config, "--coordinator", c.url(), "--code", code, "--source", "csv", "--path", sampleCSV}

	for _, tt := range []struct{ name, proxy, want string }{
		{"no credentials", "http://" + sq.addr, "wants credentials"},
		{"wrong credentials", "http://ferry:wrong@" + sq.addr, "refused the agent's credentials"},
	} {
		out, err := ferryAgent(t, nil, append(link, "--proxy", tt.proxy)...)
		if err == nil || !strings.Contains(out, "the proxy "+sq.addr+" ") || !strings.Contains(out, tt.want) || !strings.Contains(out, "407") {
			t.Errorf("link with %s: err %v, output %q; want a 407 refusal naming the proxy %s and saying %q", tt.name, err, out, sq.addr, tt.want)
		}
		if strings.Contains(out, "wrong@") {
			t.Errorf("link with %s: the output shows the password: %q", tt.name, out)
		}
	}
	if n := sq.tunnels(c.addr, "TCP_TUNNEL/200", "-"); n != 0 {
		t.Fatalf("squid tunnelled %d connections without credentials", n)
	}

	creds := filepath.Join(dir, "proxy-credentials")
	if err := os.WriteFile(creds, []byte("ferry:pr0xy-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := ferryAgent(t, nil, append(link, "--proxy", "http://"+sq.addr, "--proxy-credentials", creds)...); err == nil || !strings.Contains(out, "chmod 600") {
		t.Errorf("link with a credentials file others can read: err %v, output %q; want a refusal naming chmod 600", err, out)
	}
	if err := os.Chmod(creds, 0o600); err != nil {
		t.Fatal(err)
	}
	linkInto(t, c.url(), config, code, "csv", sampleCSV, "--proxy", "http://"+sq.addr, "--proxy-credentials", creds)
	raw, _ := os.ReadFile(config)
	var cfg struct{ AgentID, Proxy, ProxyCredentialsFile string }
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg.Proxy != "http://"+sq.addr || cfg.ProxyCredentialsFile != creds {
		t.Fatalf("config after link: %s (%v); want the proxy and the credentials file kept", raw, err)
	}
	if strings.Contains(string(raw), "pr0xy-secret") {
		t.Errorf("the config holds the proxy's password, given in a file: %s", raw)
	}

	// Squid logs a tunnel when it closes, and writes its log a moment
	// later: the link's has closed.
	waitFor(t, 30*time.Second, "squid's log of the link's tunnel", func() bool { return sq.tunnels(c.addr, "TCP_TUNNEL/200", "ferry") >= 1 })
	if n := sq.tunnels(c.addr, "TCP_TUNNEL/200", "ferry"); n != 1 {
		t.Errorf("squid logged %d tunnels to %s for the user ferry after the link; want the link's", n, c.addr)
	}
	agent := runAgent(t, config)
	waitAllComplete(t, c, company, 90*time.Second)
	for _, dt := range []string{"customers", "invoices", "journalEntries"} {
		compareWithSource(t, c, company, dt)
	}

	t.Run("remote diagnostics", func(t *testing.T) {
		var diag struct {
			Healthy bool
			Checks  []struct{ Name, Status, Message string }
		}
		if s := c.do("POST", "/agents/"+cfg.AgentID+"/diagnostics", nil, &diag); s != 200 {
			t.Fatalf("diagnostics: %d", s)
		}
		got := map[string]string{}
		for _, ch := range diag.Checks {
			got[ch.Name] = ch.Status + ": " + ch.Message
		}
		for name, want := range map[string]string{"proxy": "Pass: proxy " + sq.addr + ", from the config (--proxy)", "websocket": "Pass: this report came over", "http": "Pass", "tcp": "Pass"} {
			if !strings.HasPrefix(got[name], want) {
				t.Errorf("remote diagnostics' %s check: %q, want it to start %q", name, got[name], want)
			}
		}
		if !diag.Healthy {
			t.Errorf("remote diagnostics through the proxy: not healthy: %+v", diag.Checks)
		}
	})

	t.Run("diagnose", func(t *testing.T) {
		out, err := ferryAgent(t, nil, "diagnose", "--config", config)
		if err != nil {
			t.Fatalf("diagnose through the proxy: %v\n%s", err, out)
		}
		for _, want := range []string{"proxy " + sq.addr + ", from the config (--proxy), as the user \"ferry\": it opened a tunnel", "tcp ", "http ", "websocket ", "credential "} {
			if !strings.Contains(out, want) {
				t.Errorf("diagnose output lacks %q:\n%s", want, out)
			}
		}
	})

	// Squid dies: the agent loses its channel, says why, and backs off.
	connected := strings.Count(agent.out.String(), "connected to the coordinator")
	sq.stop()
	waitFor(t, 60*time.Second, "the agent to say the proxy cannot be reached", func() bool {
		return strings.Contains(agent.out.String(), "the proxy "+sq.addr+" (from the config (--proxy)) cannot be reached")
	})
	select {
	case <-agent.done:
		t.Fatalf("the agent exited while the proxy was down")
	default:
	}
	sq.start()
	waitFor(t, 90*time.Second, "the agent to reconnect through the proxy", func() bool {
		return strings.Count(agent.out.String(), "connected to the coordinator") > connected
	})
	queueAndComplete(t, c, company, "customers", 60*time.Second)
	// The agent's channel and its uploads went through Squid: stopped, the
	// agent closes them, and Squid logs them.
	before := sq.tunnels(c.addr, "TCP_TUNNEL/200", "ferry")
	agent.kill()
	waitFor(t, 30*time.Second, "squid to log the channel's and the uploads' tunnels", func() bool {
		return sq.tunnels(c.addr, "TCP_TUNNEL/200", "ferry") >= before+2
	})

	t.Run("wrong credentials while running", func(t *testing.T) {
		var full map[string]any
		if err := json.Unmarshal(raw, &full); err != nil {
			t.Fatal(err)
		}
		full["proxy"], full["proxyCredentialsFile"] = "http://ferry:changed@"+sq.addr, ""
		wrong := filepath.Join(t.TempDir(), "agent.json")
		b, _ := json.Marshal(full)
		if err := os.WriteFile(wrong, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := ferryAgent(t, nil, "diagnose", "--config", wrong)
		if err == nil || !strings.Contains(out, "Fail  proxy") || !strings.Contains(out, "refused the agent's credentials (407") {
			t.Errorf("diagnose with wrong proxy credentials: %v\n%s\nwant the proxy step failing on the 407", err, out)
		}
		a := runAgent(t, wrong)
		waitFor(t, 60*time.Second, "the agent to log the proxy's refusal twice", func() bool {
			return strings.Count(a.out.String(), "refused the agent's credentials (407") >= 2
		})
		out = a.out.String()
		if !strings.Contains(out, "retryIn=") || strings.Contains(out, "changed@") {
			t.Errorf("the agent's log: want the refusal with its backoff (retryIn) and no password:\n%s", out)
		}
		select {
		case <-a.done:
			t.Errorf("the agent exited on the proxy's refusal; it must keep running and say why")
		default:
		}
	})
}
