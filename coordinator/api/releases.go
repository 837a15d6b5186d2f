package api

import (
	"net/http"
	"net/url"

	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Releases is what the API needs of the catalog of the agent's releases
// (coordinator/releases).
type Releases interface {
	// List returns the releases found, newest first, each verified or
	// with the reason why not.
	List() ([]releases.Release, error)
	// Get returns the release of a version, verified or not (and why);
	// false when there is none.
	Get(version string) (releases.Release, bool)
}

// releaseView is an agent release in GET /agentReleases.
type releaseView struct {
	Version   string                `json:"version"`
	Created   string                `json:"created,omitempty"`
	Verified  bool                  `json:"verified"`
	Reason    string                `json:"reason,omitempty"`
	Message   string                `json:"message,omitempty"`
	Platforms []releasePlatformView `json:"platforms"`
}

// releasePlatformView is one platform's archive of a release.
type releasePlatformView struct {
	Platform    string `json:"platform"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	DownloadURL string `json:"downloadUrl,omitempty"`
}

// listAgentReleases serves GET /agentReleases: the releases the
// coordinator's downloads directory holds, verified or not (and why).
func (s *Server) listAgentReleases(w http.ResponseWriter, r *http.Request) error {
	views := []releaseView{}
	if s.releases != nil {
		list, err := s.releases.List()
		if err != nil {
			return err
		}
		for _, rel := range list {
			views = append(views, s.releaseView(rel))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": views})
	return nil
}

func (s *Server) releaseView(rel releases.Release) releaseView {
	m := rel.Manifest
	v := releaseView{Version: rel.Version, Created: apiTime(m.Created), Verified: rel.Verified,
		Reason: rel.Reason, Platforms: []releasePlatformView{}}
	if rel.Err != nil {
		v.Message = rel.Err.Error()
	}
	for _, p := range m.PlatformNames() {
		a := m.Platforms[p]
		pv := releasePlatformView{Platform: p, Name: a.Name, Size: a.Size, SHA256: a.SHA256}
		if rel.Verified {
			pv.DownloadURL = s.publicURL + protocol.ReleasesPath + url.PathEscape(rel.Version) + "/" + url.PathEscape(a.Name)
		}
		v.Platforms = append(v.Platforms, pv)
	}
	return v
}
