package hub

import (
	"net/http"
	"os"

	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Releases is what the hub needs of the catalog of the agent's releases
// (coordinator/releases).
type Releases interface {
	// File returns the path of the file named name (an archive,
	// release.json or release.json.sig) of the release version, when
	// that release is verified; false otherwise.
	File(version, name string) (string, bool)
	// List returns the releases found, verified or not, newest first.
	List() ([]releases.Release, error)
}

// serveRelease serves GET /agent/v1/releases/{version}/{file}: an
// archive of a verified release, or its release.json or
// release.json.sig, to an agent with a live credential.
// Range requests are answered (http.ServeContent), so that a download
// cut short resumes where it stopped.
func (h *Hub) serveRelease(w http.ResponseWriter, r *http.Request) {
	agent, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var path string
	if h.cfg.Releases != nil {
		path, ok = h.cfg.Releases.File(r.PathValue("version"), r.PathValue("file"))
	}
	if !ok {
		writeErr(w, http.StatusNotFound, protocol.CodeNotFound, "no such file of a verified release")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		writeErr(w, http.StatusNotFound, protocol.CodeNotFound, "no such file of a verified release")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.log.Error("release archive", "path", path, "err", err)
		writeErr(w, http.StatusInternalServerError, protocol.CodeInternal, "internal error")
		return
	}
	h.log.Info("release download", "agent", agent.ID, "file", fi.Name(), "range", r.Header.Get("Range"))
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}
