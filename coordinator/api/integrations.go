package api

import (
	"net/http"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/platform"
)

// integrationView is Codat's Integration.
type integrationView struct {
	Key                string            `json:"key"`
	LogoURL            string            `json:"logoUrl"`
	Name               string            `json:"name"`
	Enabled            bool              `json:"enabled"`
	SourceID           string            `json:"sourceId"`
	SourceType         string            `json:"sourceType"`
	IntegrationID      string            `json:"integrationId"`
	IsOfflineConnector bool              `json:"isOfflineConnector"`
	IsBeta             bool              `json:"isBeta"`
	DataProvidedBy     string            `json:"dataProvidedBy"`
	DatatypeFeatures   []dataTypeFeature `json:"datatypeFeatures"`
}

type dataTypeFeature struct {
	DataType          dataset.DataType   `json:"dataType"`
	SupportedFeatures []supportedFeature `json:"supportedFeatures"`
}

type supportedFeature struct {
	FeatureType  string `json:"featureType"`
	FeatureState string `json:"featureState"`
}

func (s *Server) integrationView(in platform.Info) integrationView {
	v := integrationView{
		Key: in.Key, Name: in.Name, Enabled: true, SourceID: in.SourceID, SourceType: "Accounting",
		IntegrationID: in.ID, IsOfflineConnector: true, DataProvidedBy: "Ferry agent",
		LogoURL: s.publicURL + "/static/" + in.Key + ".svg",
	}
	for _, dt := range dataset.DataTypes {
		state := "NotSupported"
		if in.Supports(dt) {
			state = "Release"
		}
		v.DatatypeFeatures = append(v.DatatypeFeatures, dataTypeFeature{
			DataType: dt, SupportedFeatures: []supportedFeature{{FeatureType: "Get", FeatureState: state}},
		})
	}
	return v
}

func (s *Server) listIntegrations(w http.ResponseWriter, r *http.Request) error {
	views := make([]integrationView, len(platform.All))
	for i, in := range platform.All {
		views[i] = s.integrationView(in)
	}
	return writePage(w, r, views)
}

func (s *Server) getIntegration(w http.ResponseWriter, r *http.Request) error {
	in, ok := platform.Lookup(r.PathValue("platformKey"))
	if !ok {
		return errorf(http.StatusNotFound, CodeNotFound, "no integration %q; valid: %s",
			truncate(r.PathValue("platformKey"), 64), integrationKeys())
	}
	writeJSON(w, http.StatusOK, s.integrationView(in))
	return nil
}
