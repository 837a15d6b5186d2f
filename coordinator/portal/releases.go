package portal

import (
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/releases"
)

// Releases is what the Portal needs of the catalog of the agent's
// releases (coordinator/releases).
type Releases interface {
	// List returns the releases found, verified or not, newest first.
	List() ([]releases.Release, error)
}

// releasesData is the releases page.
type releasesData struct {
	// Offered: the coordinator has a downloads directory to find releases
	// in.
	Offered  bool
	Releases []releases.Release
	// Minimum is the coordinator's minimum agent version; "" for none.
	Minimum string
}

// releasesPage lists the agent's releases the coordinator found: the
// verified ones it offers agents, and the others with the reason they
// are refused. Client and support keys alike see it.
func (h *Handler) releasesPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := releasesData{Offered: h.releases != nil, Minimum: h.agents.MinimumVersion()}
	if h.releases != nil {
		list, err := h.releases.List()
		if err != nil {
			h.internal(w, r, s, err)
			return
		}
		d.Releases = list
	}
	h.render(w, r, http.StatusOK, "releases", h.signedPage(r.Context(), s, "Releases", d))
}
