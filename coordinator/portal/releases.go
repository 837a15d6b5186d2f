package portal

import (
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/coordinator/store"
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
	// Rollouts are the status of each release's rollout, by version.
	Rollouts map[string]store.RolloutStatus
}

// releasesPage lists the agent's releases the coordinator found: the
// verified ones it offers agents, and the others with the reason they
// are refused, each with its rollout's status linking to the rollout's
// page. Client and support keys alike see it.
func (h *Handler) releasesPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := releasesData{Offered: h.releases != nil, Minimum: h.agents.MinimumVersion()}
	if h.releases != nil {
		list, err := h.releases.List()
		if err != nil {
			h.internal(w, r, s, err)
			return
		}
		d.Releases = list
		ros, err := h.store.Rollouts(r.Context())
		if err != nil {
			h.internal(w, r, s, err)
			return
		}
		d.Rollouts = map[string]store.RolloutStatus{}
		for _, ro := range ros {
			d.Rollouts[ro.Version] = ro.Status
		}
	}
	h.render(w, r, http.StatusOK, "releases", h.signedPage(r.Context(), s, "Releases", d))
}
