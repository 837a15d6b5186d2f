package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// inspectionCA is the name of the CA a test's TLS-inspecting Squid signs
// its certificates with.
const inspectionCA = "Ferry e2e inspection CA"

// newInspectionCA writes an RSA CA certificate and key (PEM) for Squid's
// ssl_bump into dir.
func newInspectionCA(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: inspectionCA, Organization: []string{"Acme IT"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "inspection-ca.pem"), filepath.Join(dir, "inspection-ca-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return certFile, keyFile
}

// TestTLSInspection runs the agent through a real TLS-inspecting proxy
// (Squid's ssl_bump, with its own CA) to a coordinator serving TLS with a
// certificate the agent trusts: the proxy's certificate in its place is
// refused with an error naming the proxy's CA and saying how to trust
// it, and diagnose fails at the TLS step saying the same; given the
// proxy's CA (--ca-file) the agent links, syncs and uploads through it.
// Through an inspecting proxy that removes websocket upgrades (Squid's
// default), diagnose says so at its websocket step and the agent's log
// names the cause.
func TestTLSInspection(t *testing.T) {
	parallel(t)
	needSquid(t, true)
	pki := newTestPKI(t)
	c := startCoordinatorTLS(t, t.TempDir(), freeAddr(t), pki.roots, pki.certFile, pki.keyFile)
	caCert, caKey := newInspectionCA(t, t.TempDir())
	sq := startSquid(t, squidOptions{bump: true, caCert: caCert, caKey: caKey, upstreamCA: pki.caFile})

	company, _, code := setupConnection(t, c, "csv")
	config := filepath.Join(t.TempDir(), "agent.json")
	link := []string{"link", "--config", config, "--coordinator", c.url(), "--code", code, "--source", "csv", "--path", sampleCSV, "--proxy", "http://" + sq.addr}
	// Trusting the coordinator's own CA is not enough: the proxy shows its
	// own certificate.
	out, err := ferryAgent(t, nil, append(link, "--ca-file", pki.caFile)...)
	for _, want := range []string{"CN=" + inspectionCA, "inspecting TLS", "the proxy " + sq.addr, "--ca-file"} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("link through the inspecting proxy: err %v, output %q; want a refusal with %q", err, out, want)
		}
	}
	if _, err := os.Stat(config); !os.IsNotExist(err) {
		t.Fatalf("a refused link left a config file: %v", err)
	}

	linkInto(t, c.url(), config, code, "csv", sampleCSV, "--proxy", "http://"+sq.addr, "--ca-file", caCert)
	agent := runAgent(t, config)
	waitAllComplete(t, c, company, 90*time.Second)
	for _, dt := range []string{"customers", "invoices"} {
		compareWithSource(t, c, company, dt)
	}
	if !strings.Contains(agent.out.String(), "connected to the coordinator") {
		t.Errorf("the agent never logged its connection")
	}
	if out, err := ferryAgent(t, nil, "diagnose", "--config", config); err != nil || !strings.Contains(out, "issued by CN="+inspectionCA) {
		t.Errorf("diagnose with the proxy's CA: %v\n%s\nwant every check passing, the TLS one naming the proxy's CA", err, out)
	}

	// The same config without the proxy's CA: diagnose stops at TLS.
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	untrusting := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(untrusting, []byte(strings.Replace(string(raw), caCert, pki.caFile, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = ferryAgent(t, nil, "diagnose", "--config", untrusting)
	if err == nil || !strings.Contains(out, "Fail  tls") || !strings.Contains(out, "CN="+inspectionCA) || strings.Contains(out, "Pass  http") {
		t.Errorf("diagnose without the proxy's CA: %v\n%s\nwant a failing TLS step naming the proxy's CA, and no step after it", err, out)
	}

	t.Run("a proxy that removes websocket upgrades", func(t *testing.T) {
		strip := startSquid(t, squidOptions{bump: true, stripUpgrade: true, caCert: caCert, caKey: caKey, upstreamCA: pki.caFile})
		through := filepath.Join(t.TempDir(), "agent.json")
		if err := os.WriteFile(through, []byte(strings.Replace(string(raw), sq.addr, strip.addr, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := ferryAgent(t, nil, "diagnose", "--config", through)
		if err == nil || !strings.Contains(out, "Pass  http") || !strings.Contains(out, "Fail  websocket") || !strings.Contains(out, "the proxy "+strip.addr+" removed it") {
			t.Errorf("diagnose through a proxy that removes upgrades: %v\n%s\nwant HTTP passing and the websocket step failing, naming the proxy", err, out)
		}
		a := runAgent(t, through)
		waitFor(t, 60*time.Second, "the agent to log that the upgrade was removed", func() bool {
			return strings.Contains(a.out.String(), "without its websocket upgrade: a proxy on the way removed it")
		})
	})
}
