package api

import (
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// dataTypeParam reads and checks the {dataType} path value.
func dataTypeParam(r *http.Request) (dataset.DataType, error) {
	dt := dataset.DataType(r.PathValue("dataType"))
	if !dt.Valid() {
		return "", errorf(http.StatusBadRequest, CodeUnknownType,
			"unknown data type %q; valid: %s", truncate(string(dt), 64), dataset.DataTypeNames())
	}
	return dt, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// queueDataType queues one type. It reads no company of its own: the
// queue's transaction answers the company's ErrNotFound, and each read
// here would wait for the commits in flight (a Badger read waits for the
// newest commit) before the queue's own.
func (s *Server) queueDataType(w http.ResponseWriter, r *http.Request) error {
	companyID := r.PathValue("companyId")
	dt, err := dataTypeParam(r)
	if err != nil {
		return err
	}
	ds, gate, err := s.queuer.QueueGate(r.Context(), companyID, dt, r.URL.Query().Get("connectionId"), "queued by API")
	if err != nil {
		return err
	}
	s.log.Info("dataset queued", "company", companyID, "dataset", ds.ID, "dataType", dt)
	v := pullOperationView(ds, false)
	h := s.holds(r.Context())
	if gate != nil {
		h.gates[ds.ConnectionID] = rules.HoldAt(*gate, s.now())
	}
	h.describe(ds, &v)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) queueAll(w http.ResponseWriter, r *http.Request) error {
	companyID := r.PathValue("companyId")
	if _, err := s.store.Company(r.Context(), companyID); err != nil {
		return err
	}
	queued, err := s.queuer.QueueAll(r.Context(), companyID, r.URL.Query().Get("connectionId"), "queued by API (all)")
	if err != nil {
		return err
	}
	s.log.Info("datasets queued", "company", companyID, "count", len(queued))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dataStatus answers one entry per data type in the company's sync
// settings, in the spec's four shapes.
func (s *Server) dataStatus(w http.ResponseWriter, r *http.Request) error {
	companyID := r.PathValue("companyId")
	statuses, err := s.store.DataStatus(r.Context(), companyID)
	if err != nil {
		return err
	}
	settings, err := s.queuer.Settings(r.Context(), companyID)
	if err != nil {
		return err
	}
	out := make(map[dataset.DataType]dataStatusView, len(settings))
	for _, set := range settings {
		v := dataStatusView{DataType: set.DataType}
		if st, ok := statuses[set.DataType]; ok {
			v.CurrentStatus, v.LatestSyncID = st.Latest.Status, st.Latest.ID
			if ok := st.LatestSuccessful; ok != nil {
				v.LatestSuccessfulSyncID = ok.ID
				v.LastSuccessfulSync = apiTime(ok.Completed)
			}
		}
		out[set.DataType] = v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listHistory(w http.ResponseWriter, r *http.Request) error {
	all, err := s.store.Datasets(r.Context(), r.PathValue("companyId"))
	if err != nil {
		return err
	}
	views := make([]pullOperation, len(all))
	held := s.holds(r.Context())
	for i, d := range all {
		views[i] = pullOperationView(d, false)
		held.describe(d, &views[i])
	}
	return writePage(w, r, views)
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.Dataset(r.Context(), r.PathValue("companyId"), r.PathValue("datasetId"))
	if err != nil {
		return err
	}
	v := pullOperationView(d, true)
	s.holds(r.Context()).describe(d, &v)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) validation(w http.ResponseWriter, r *http.Request) error {
	v, err := s.store.Validation(r.Context(), r.PathValue("companyId"), r.PathValue("datasetId"))
	if err != nil {
		return err
	}
	if v.Errors == nil {
		v.Errors = []store.ValidationItem{}
	}
	if v.Warnings == nil {
		v.Warnings = []store.ValidationItem{}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
