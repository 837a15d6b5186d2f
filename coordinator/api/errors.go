package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/api/paging"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Detailed error codes of the REST API, in the errors' detailedErrorCode.
// They are part of the API: never renumber one.
const (
	CodeBadJSON       = 10001 // the body is not valid JSON for the operation
	CodeBodyTooLarge  = 10002 // the body is over the size limit
	CodeInvalidField  = 10003 // a field's value is not allowed
	CodeBadParameter  = 10004 // a query-string parameter (paging, query, orderBy) is bad
	CodeUnknownType   = 10005 // the data type is not one of Ferry's
	CodeUnauthorized  = 20001 // no key, or a key Ferry does not know
	CodeForbidden     = 20002 // the key's scope does not allow this
	CodeRateLimited   = 20003 // too many failed authentications from the caller's address; wait Retry-After
	CodeNotFound      = 30001 // the object does not exist
	CodeInProgress    = 40001 // the data type already has a dataset in progress
	CodeUnlinked      = 40002 // the connection is unlinked
	CodeNoConnection  = 40003 // the company has no (single) connection for this
	CodeConflict      = 40004 // the object's state does not allow this
	CodeInternal      = 50001 // a fault in Ferry; the correlation id finds it in the logs
	CodeUnavailable   = 50002 // Ferry is starting or stopping, at its connection limit, or cannot reach its database
	CodeMethodRefused = 10006 // the method is not allowed on this path
	CodeAgentOffline  = 40005 // the agent is offline
	CodeAgentTimeout  = 50003 // the agent did not answer in time
	// CodeAgentUnsupported: the agent's version does not know the request.
	CodeAgentUnsupported = 40006
	CodeNotOffered       = 60001 // an operation of Codat's API that Ferry does not offer (docs/api.md says why)
)

// Error is an API error: the HTTP status, the message the caller sees and
// the detailed code. Handlers return it; writeError renders it.
type Error struct {
	Status  int
	Code    int
	Message string
	Retry   bool
}

func (e *Error) Error() string { return e.Message }

func errorf(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorBody is Codat's ErrorMessage.
type errorBody struct {
	StatusCode        int    `json:"statusCode"`
	Service           string `json:"service"`
	Error             string `json:"error"`
	CorrelationID     string `json:"correlationId"`
	CanBeRetried      string `json:"canBeRetried"`
	DetailedErrorCode int    `json:"detailedErrorCode"`
}

// classify turns any error from a handler into an *Error. Errors it does not
// know are internal: their text is logged, never sent.
func classify(err error) *Error {
	var apiErr *Error
	var busy *store.InProgressError
	var param *paging.ParamError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &busy):
		return errorf(http.StatusConflict, CodeInProgress,
			"a %s dataset is already in progress: %s", busy.Status, busy.DatasetID)
	case errors.As(err, &param):
		return errorf(http.StatusBadRequest, CodeBadParameter, "%s", param.Error())
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Retry: true,
			Message: "the coordinator cannot reach its database; retry shortly"}
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "not found")
	case errors.Is(err, store.ErrUnlinked):
		return errorf(http.StatusConflict, CodeUnlinked, "the connection is unlinked; link it again before queueing")
	case errors.Is(err, store.ErrNoConnection), errors.Is(err, store.ErrAmbiguous):
		return errorf(http.StatusConflict, CodeNoConnection, "%s", err.Error())
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: "internal error; quote the correlation id to support", Retry: true}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	cid := correlationID(r.Context())
	if e.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "correlationId", cid, "err", err)
	}
	retry := "False"
	if e.Retry {
		retry = "True"
	}
	writeJSON(w, e.Status, errorBody{
		StatusCode: e.Status, Service: "Ferry", Error: e.Message, CorrelationID: cid,
		CanBeRetried: retry, DetailedErrorCode: e.Code,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}
