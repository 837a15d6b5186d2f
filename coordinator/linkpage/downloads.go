package linkpage

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
)

// download is one installer offered on the link page, with the exact
// commands that install and link it.
type download struct {
	Title, File, URL string
	Commands         string
}

// installer names the files make installers builds.
var installerName = regexp.MustCompile(`^(ferry-agent[-_][A-Za-z0-9.+~_-]+\.(deb|tar\.gz|msi)|SHA256SUMS)$`)

// latest is the last file in the downloads directory matching glob (the
// newest version, when names sort by version), or "".
func (h *Handler) latest(glob string) string {
	if h.Downloads == "" {
		return ""
	}
	m, _ := filepath.Glob(filepath.Join(h.Downloads, glob))
	slices.Sort(m)
	if len(m) == 0 {
		return ""
	}
	return filepath.Base(m[len(m)-1])
}

// downloads are the installers there are, each with the commands for this
// connection's code when one was just issued; nil when the coordinator
// serves none.
func (h *Handler) downloads(v view) []download {
	link := "sudo ferry-agent link --coordinator " + v.Coordinator + " --code " + v.Code +
		" --source " + v.PlatformKey + " --path " + v.ExamplePath
	var out []download
	add := func(title, glob string, commands func(file, url string) string) {
		if f := h.latest(glob); f != "" {
			url := h.Links.Base() + "/downloads/" + f
			d := download{Title: title, File: f, URL: url}
			if v.Code != "" {
				d.Commands = commands(f, url)
			}
			out = append(out, d)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		add("Debian or Ubuntu ("+arch+")", "ferry-agent_*_"+arch+".deb", func(f, url string) string {
			return "curl -fLO " + url + "\nsudo apt install ./" + f + "\n" + link
		})
	}
	for _, arch := range []string{"amd64", "arm64"} {
		add("Other Linux ("+arch+")", "ferry-agent-*-linux-"+arch+".tar.gz", func(f, url string) string {
			dir := f[:len(f)-len(".tar.gz")]
			return "curl -fL " + url + " | tar xz\nsudo ./" + dir + "/install.sh\n" + link
		})
	}
	add("Windows (64-bit)", "ferry-agent-*-windows-amd64.msi", func(f, url string) string {
		return "msiexec /i " + f + " COORDINATOR=" + v.Coordinator + " LINKCODE=" + v.Code +
			" SOURCE=" + v.PlatformKey + " BOOKPATH=" + v.ExamplePathWindows
	})
	if len(out) > 0 {
		if f := h.latest("SHA256SUMS"); f != "" {
			out = append(out, download{Title: "Checksums (SHA-256)", File: f, URL: h.Links.Base() + "/downloads/" + f})
		}
	}
	return out
}

// serveDownload serves GET /downloads/{file}: an installer from the
// downloads directory, nothing else.
func (h *Handler) serveDownload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if h.Downloads == "" || !installerName.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	if _, err := os.Stat(filepath.Join(h.Downloads, name)); err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "public, max-age=300")
	http.ServeFileFS(w, r, os.DirFS(h.Downloads), name)
}
