package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMSITablesAndSignatures builds the Windows installer as `make
// installers` does and reads it back with msiinfo: the service it
// registers (account, start, arguments), how the service is controlled,
// the properties msiexec takes, the custom actions that secure and link
// the agent; then checks the signatures of the .msi and of the
// ferry-agent.exe inside it with osslsigncode.
func TestMSITablesAndSignatures(t *testing.T) {
	parallel(t)
	needMSITools(t)
	out := t.TempDir()
	cmd := exec.Command("bash", "../installer/build.sh")
	cmd.Env = append(os.Environ(), "OUT="+out, "ARCHES=", "VERSION=1.2.3") // the .msi alone
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installer/build.sh: %v\n%s", err, b)
	}
	msi := filepath.Join(out, "ferry-agent-1.2.3-windows-amd64.msi")
	sums := exec.Command("sha256sum", "-c", "SHA256SUMS")
	sums.Dir = out
	if b, err := sums.CombinedOutput(); err != nil || !strings.Contains(string(b), "ferry-agent-1.2.3-windows-amd64.msi: OK") {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, b)
	}

	tables := run(t, "msiinfo", "tables", msi)
	for _, want := range []string{"ServiceInstall", "ServiceControl", "CustomAction", "Property", "File", "InstallExecuteSequence"} {
		if !hasLine(tables, want) {
			t.Errorf("tables lack %s:\n%s", want, tables)
		}
	}
	// Columns: ServiceInstall Name DisplayName ServiceType StartType ErrorControl
	// LoadOrderGroup Dependencies StartName Password Arguments Component_ Description.
	wantRow(t, run(t, "msiinfo", "export", msi, "ServiceInstall"), "AgentService",
		"ferry-agent", "Ferry connector agent", "16", "2", "1", "", "", `NT SERVICE\ferry-agent`, "", "run --service", "Agent")
	// Event 163: start on install (1), stop on install and uninstall (2|32),
	// delete on uninstall (128).
	wantRow(t, run(t, "msiinfo", "export", msi, "ServiceControl"), "AgentControl", "ferry-agent", "163")
	props := run(t, "msiinfo", "export", msi, "Property")
	wantRow(t, props, "SecureCustomProperties", "COORDINATOR;LINKCODE;SOURCE;BOOKPATH")
	wantRow(t, props, "MsiHiddenProperties", "LINKCODE")
	wantRow(t, props, "SOURCE", "gnucash")
	wantRow(t, props, "ProductVersion", "1.2.3")
	actions := run(t, "msiinfo", "export", msi, "CustomAction")
	wantRow(t, actions, "SecureAgent", "3090", "AgentExe", "install --registered")
	wantRow(t, actions, "LinkAgent", "3154", "AgentExe",
		`link --coordinator "[COORDINATOR]" --code "[LINKCODE]" --source "[SOURCE]" --path "[BOOKPATH]"`)
	wantRow(t, actions, "UnlinkAgent", "3154", "AgentExe", "unlink --all")
	seq := run(t, "msiinfo", "export", msi, "InstallExecuteSequence")
	wantRow(t, seq, "LinkAgent", "LINKCODE AND COORDINATOR AND BOOKPATH AND NOT REMOVE")
	wantRow(t, seq, "SecureAgent", "NOT REMOVE")
	wantRow(t, seq, "UnlinkAgent", `REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE`)
	wantSequence(t, seq)
	// The self-update layout is ferry-agent.exe's folder (agent/update's
	// FindLayout on Windows), Program Files\Ferry, which SecureAgent's
	// `install --registered` lets the service account change.
	wantRow(t, run(t, "msiinfo", "export", msi, "Directory"), "INSTALLDIR", "ProgramFiles64Folder", "Ferry")
	wantRow(t, run(t, "msiinfo", "export", msi, "Component"), "Agent", "{892B071D-6439-41A2-B84F-D76B804F37ED}", "INSTALLDIR")
	wantRow(t, run(t, "msiinfo", "export", msi, "File"), "AgentExe", "Agent", "ferry-agent.exe")

	cert := filepath.Join(out, "signing", "test-cert.pem")
	if v := run(t, "osslsigncode", "verify", "-CAfile", cert, "-in", msi); !strings.Contains(v, "Signature verification: ok") {
		t.Errorf("msi signature:\n%s", v)
	}
	files := t.TempDir()
	run(t, "msiextract", "-C", files, msi)
	var exes []string
	filepath.WalkDir(files, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "ferry-agent.exe" {
			exes = append(exes, p)
		}
		return nil
	})
	if len(exes) != 1 {
		t.Fatalf("ferry-agent.exe in the msi: %v", exes)
	}
	if v := run(t, "osslsigncode", "verify", "-CAfile", cert, "-in", exes[0]); !strings.Contains(v, "Signature verification: ok") {
		t.Errorf("exe signature:\n%s", v)
	}
	// A signature that does not match the file fails verification.
	raw, _ := os.ReadFile(msi)
	raw[len(raw)/2] ^= 0xff
	bad := filepath.Join(out, "tampered.msi")
	os.WriteFile(bad, raw, 0o644)
	if v, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", bad).CombinedOutput(); err == nil {
		t.Errorf("a tampered msi verified:\n%s", v)
	}
}

// wantSequence checks the order of the custom actions in an export of
// InstallExecuteSequence: each deferred one between InstallInitialize and
// InstallFinalize (elsewhere Windows Installer fails with error 2762);
// SecureAgent, which grants the service its config and its folder, after
// the service is registered and before it starts; UnlinkAgent before the
// service stops.
func wantSequence(t *testing.T, export string) {
	t.Helper()
	at := map[string]int{}
	for l := range strings.Lines(export) {
		f := strings.Split(strings.TrimRight(l, "\r\n"), "\t")
		if len(f) == 3 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				at[f[0]] = n
			}
		}
	}
	before := func(a, b string) {
		t.Helper()
		if at[a] == 0 || at[b] == 0 || at[a] >= at[b] {
			t.Errorf("InstallExecuteSequence: %s (%d) must come before %s (%d)", a, at[a], b, at[b])
		}
	}
	for _, a := range []string{"SecureAgent", "LinkAgent", "UnlinkAgent"} {
		before("InstallInitialize", a)
		before(a, "InstallFinalize")
	}
	before("InstallServices", "SecureAgent")
	before("SecureAgent", "LinkAgent")
	before("LinkAgent", "StartServices")
	before("UnlinkAgent", "StopServices")
}

// needMSITools skips unless wixl, msiinfo and osslsigncode are there or
// can be installed (root); in CI it must run.
func needMSITools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the msi; skipped with -short")
	}
	if os.Geteuid() == 0 {
		return
	}
	for _, tool := range []string{"wixl", "msiinfo", "msiextract", "osslsigncode", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			why := tool + " is missing and only root may install it (make installer-deps)"
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI must run this test: %s", why)
			}
			t.Skip(why)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// wantRow checks that an msiinfo export has a row with key whose next
// columns are cols.
func wantRow(t *testing.T, export, key string, cols ...string) {
	t.Helper()
	for l := range strings.Lines(export) {
		f := strings.Split(strings.TrimRight(l, "\r\n"), "\t")
		if f[0] != key {
			continue
		}
		if len(f) < len(cols)+1 || strings.Join(f[1:len(cols)+1], "\t") != strings.Join(cols, "\t") {
			t.Errorf("row %s = %q, want %q", key, f[1:], cols)
		}
		return
	}
	t.Errorf("no row %s in:\n%s", key, export)
}
