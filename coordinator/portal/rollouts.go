package portal

import (
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// rolloutData is a rollout's page: the rollout and its agents counted by
// status.
type rolloutData struct {
	store.Rollout
	Counts map[string]int
}

// rolloutPage shows the progress of the rollout of a release: its status,
// why it halted, and each agent's status (canaries first).
func (h *Handler) rolloutPage(w http.ResponseWriter, r *http.Request, s *session) {
	ro, err := h.store.Rollout(r.Context(), r.PathValue("version"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no rollout of that release.")
		return
	}
	d := rolloutData{Rollout: ro, Counts: map[string]int{}}
	for _, m := range ro.Members {
		d.Counts[string(m.Status)]++
	}
	h.render(w, r, http.StatusOK, "rollout", h.signedPage(r.Context(), s, "Rollout of "+ro.Version, d))
}
