package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// The support bundles' statuses.
const (
	bundleCollecting = "Collecting" // asked of the agent; its archive has not arrived
	bundleReady      = "Ready"      // the archive arrived and can be downloaded
)

// bundleView is a support bundle as support staff see it.
type bundleView struct {
	ID        string `json:"id"`
	AgentID   string `json:"agentId"`
	Status    string `json:"status"`
	Requested string `json:"requested"`
	Uploaded  string `json:"uploaded,omitempty"`
	Size      int64  `json:"size"`
}

func viewOfBundle(b store.SupportBundle) bundleView {
	v := bundleView{ID: b.ID, AgentID: b.AgentID, Status: bundleCollecting, Requested: apiTime(b.Requested), Size: b.Size}
	if !b.Uploaded.IsZero() {
		v.Status, v.Uploaded = bundleReady, apiTime(b.Uploaded)
	}
	return v
}

// requestBundle asks an online agent for a support bundle (202: the agent
// collects and uploads it; the list shows it Ready when it arrived).
func (s *Server) requestBundle(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	b, err := s.agents.RequestBundle(r.Context(), id)
	switch {
	case errors.Is(err, hub.ErrOffline):
		return errorf(http.StatusConflict, CodeAgentOffline, "agent %s is offline", id)
	case errors.Is(err, hub.ErrUnsupported):
		return errorf(http.StatusConflict, CodeAgentUnsupported,
			"agent %s is a version that does not know support bundles; upgrade it, or run ferry-agent bundle --out FILE on its machine", id)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusAccepted, viewOfBundle(b))
	return nil
}

func (s *Server) listBundles(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agentId")
	if _, err := s.store.Agent(r.Context(), id); err != nil {
		return err
	}
	bs, err := s.store.Bundles(r.Context(), id)
	if err != nil {
		return err
	}
	views := make([]bundleView, len(bs))
	for i, b := range bs {
		views[i] = viewOfBundle(b)
	}
	return writePage(w, r, views)
}

// getBundle downloads a bundle's archive (gzip tar).
func (s *Server) getBundle(w http.ResponseWriter, r *http.Request) error {
	agentID, id := r.PathValue("agentId"), r.PathValue("bundleId")
	b, archive, err := s.store.BundleArchive(r.Context(), agentID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "no such support bundle of agent %s, or its archive has not arrived yet", agentID)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
	w.Header().Set("Content-Disposition", `attachment; filename="ferry-bundle-`+b.ID+`.tar.gz"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(archive)
	return nil
}
