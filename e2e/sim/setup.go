package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/shared/platform"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Agent is one simulated agent: its own company, one csv connection
// linked to it, and the credential the link exchange returned.
type Agent struct {
	Index        int    `json:"index"`
	CompanyID    string `json:"companyId"`
	ConnectionID string `json:"connectionId"`
	AgentID      string `json:"agentId"`
	Credential   string `json:"credential"`
}

// SourceAddr is the loopback address agent i connects from: one address
// per agent across 127.10.0.0/16 (and on), so that more than one address's
// 28,000 ephemeral ports are available and the link exchange's limit per
// address is not the load tool's limit.
func SourceAddr(i int) net.IP {
	return net.IPv4(127, byte(10+i/60000), byte(i%60000/240), byte(1+i%240))
}

// DialFrom returns a dial function whose connections leave from ip.
func DialFrom(ip net.IP) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 15 * time.Second}
	return d.DialContext
}

// Setup makes n agents through the real API: a company, a csv connection
// and the link exchange for each, from workers goroutines at once.
// progress, when not nil, is called with the count done now and then.
func Setup(ctx context.Context, c *Coordinator, n, workers int, progress func(int)) ([]Agent, error) {
	agents := make([]Agent, n)
	var done atomic.Int64
	err := parallel(ctx, n, workers, func(i int) error {
		a, err := setupOne(ctx, c, i)
		agents[i] = a
		if k := done.Add(1); progress != nil && k%500 == 0 {
			progress(int(k))
		}
		return err
	})
	return agents, err
}

func setupOne(ctx context.Context, c *Coordinator, i int) (Agent, error) {
	var co struct{ ID string }
	if s, err := c.Call(ctx, "POST", "/companies", map[string]string{"name": fmt.Sprintf("Load %06d Ltd", i)}, &co); err != nil || s != 200 {
		return Agent{}, fmt.Errorf("create company %d: status %d, %v", i, s, err)
	}
	var conn struct {
		ID             string
		ConnectionInfo struct{ LinkCode string }
	}
	if s, err := c.Call(ctx, "POST", "/companies/"+co.ID+"/connections", map[string]string{"platformKey": platform.CSV}, &conn); err != nil || s != 200 {
		return Agent{}, fmt.Errorf("create connection %d: status %d, %v", i, s, err)
	}
	resp, err := link(ctx, c.URL(), SourceAddr(i), protocol.LinkRequest{
		Code: conn.ConnectionInfo.LinkCode, PlatformKey: platform.CSV, Hostname: fmt.Sprintf("sim-%06d", i), OS: "linux/sim", AgentVersion: "sim",
	})
	if err != nil {
		return Agent{}, fmt.Errorf("link %d: %w", i, err)
	}
	return Agent{Index: i, CompanyID: co.ID, ConnectionID: conn.ID, AgentID: resp.AgentID, Credential: resp.Credential}, nil
}

// link is the agent's link exchange, sent from the agent's own address.
func link(ctx context.Context, base string, from net.IP, req protocol.LinkRequest) (protocol.LinkResponse, error) {
	var out protocol.LinkResponse
	tr := &http.Transport{DialContext: DialFrom(from), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	raw, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, "POST", base+protocol.LinkPath, bytes.NewReader(raw))
	if err != nil {
		return out, err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr, Timeout: 60 * time.Second}).Do(r)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		return out, fmt.Errorf("status %d", resp.StatusCode)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// SaveAgents writes the agents to a file the agent processes read.
func SaveAgents(path string, agents []Agent) error {
	raw, err := json.Marshal(agents)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// LoadAgents reads what SaveAgents wrote.
func LoadAgents(path string) ([]Agent, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var agents []Agent
	return agents, json.Unmarshal(raw, &agents)
}

// parallel calls fn(0..n-1) from at most workers goroutines and returns
// the first error; it stops handing out work after one.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
