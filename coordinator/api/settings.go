package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// clientID is the id of Ferry's one client, in Codat's SyncSettings.
var clientID = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://ferry-sync/client")).String()

// syncSettingsView is Codat's SyncSettings (client-wide) and, with the
// company id instead, CompanySyncSettings.
type syncSettingsView struct {
	ClientID          string              `json:"clientId,omitempty"`
	CompanyID         string              `json:"companyId,omitempty"`
	Settings          []store.SyncSetting `json:"settings"`
	OverridesDefaults bool                `json:"overridesDefaults"`
}

// syncSettingBody is one SyncSetting of a request: the four fields Codat
// requires, and its history fields accepted and ignored (Ferry syncs the
// whole book).
type syncSettingBody struct {
	DataType         *dataset.DataType `json:"dataType"`
	FetchOnFirstLink *bool             `json:"fetchOnFirstLink"`
	SyncSchedule     *int              `json:"syncSchedule"`
	SyncOrder        *int              `json:"syncOrder"`
	IsLocked         *bool             `json:"isLocked"`
	SyncFromUTC      *string           `json:"syncFromUtc"`
	SyncFromWindow   *int              `json:"syncFromWindow"`
	MonthsToSync     *int              `json:"monthsToSync"`
}

// syncSettingsBody is the body of both POSTs.
type syncSettingsBody struct {
	ClientID          *string           `json:"clientId"`
	CompanyID         *string           `json:"companyId"`
	Settings          []syncSettingBody `json:"settings"`
	OverridesDefaults *bool             `json:"overridesDefaults"`
}

func (b syncSettingsBody) settings() ([]store.SyncSetting, error) {
	if b.Settings == nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidField, "settings is required")
	}
	out := make([]store.SyncSetting, len(b.Settings))
	for i, s := range b.Settings {
		if s.DataType == nil || s.FetchOnFirstLink == nil || s.SyncSchedule == nil || s.SyncOrder == nil {
			return nil, errorf(http.StatusBadRequest, CodeInvalidField,
				"settings[%d]: dataType, fetchOnFirstLink, syncSchedule and syncOrder are required", i)
		}
		out[i] = store.SyncSetting{
			DataType: *s.DataType, FetchOnFirstLink: *s.FetchOnFirstLink,
			SyncSchedule: *s.SyncSchedule, SyncOrder: *s.SyncOrder, IsLocked: s.IsLocked != nil && *s.IsLocked,
		}
	}
	if err := store.CheckSyncSettings(out); err != nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidField, "%s", err.Error())
	}
	return out, nil
}

func (s *Server) getProfileSyncSettings(w http.ResponseWriter, r *http.Request) error {
	list, err := s.store.ProfileSyncSettings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, syncSettingsView{ClientID: clientID, Settings: list, OverridesDefaults: true})
	return nil
}

func (s *Server) setProfileSyncSettings(w http.ResponseWriter, r *http.Request) error {
	var b syncSettingsBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.CompanyID != nil {
		return errorf(http.StatusBadRequest, CodeInvalidField, "companyId belongs in /companies/{companyId}/syncSettings")
	}
	list, err := b.settings()
	if err != nil {
		return err
	}
	if err := s.store.SetProfileSyncSettings(r.Context(), list); err != nil {
		return err
	}
	s.log.Info("client sync settings set", "types", len(list))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getCompanySyncSettings(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.store.CompanySyncSettings(r.Context(), r.PathValue("companyId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, syncSettingsView{CompanyID: cs.CompanyID, Settings: cs.Settings, OverridesDefaults: cs.OverridesDefaults})
	return nil
}

// setCompanySyncSettings refuses to change a type the client's settings
// lock (isLocked): those apply to every company as they are.
func (s *Server) setCompanySyncSettings(w http.ResponseWriter, r *http.Request) error {
	companyID := r.PathValue("companyId")
	if _, err := s.store.Company(r.Context(), companyID); err != nil {
		return err
	}
	var b syncSettingsBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.CompanyID != nil && *b.CompanyID != companyID {
		return errorf(http.StatusBadRequest, CodeInvalidField, "companyId %q is not the company of the path", *b.CompanyID)
	}
	list, err := b.settings()
	if err != nil {
		return err
	}
	profile, err := s.store.ProfileSyncSettings(r.Context())
	if err != nil {
		return err
	}
	for _, p := range profile {
		for _, c := range list {
			if p.IsLocked && c.DataType == p.DataType && c != p {
				return errorf(http.StatusBadRequest, CodeInvalidField,
					"the client's sync setting of %s is locked; a company cannot change it", p.DataType)
			}
		}
	}
	overrides := b.OverridesDefaults == nil || *b.OverridesDefaults
	cs := store.CompanySyncSettings{CompanyID: companyID, Settings: list, OverridesDefaults: overrides}
	if err := s.store.SetCompanySyncSettings(r.Context(), cs); err != nil {
		return err
	}
	s.log.Info("company sync settings set", "company", companyID, "types", len(list), "overridesDefaults", overrides)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
