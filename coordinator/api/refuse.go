package api

import "net/http"

// Refuse answers, in the API's error shape, a request the coordinator
// turns away before it reaches a handler (the connection limiter's
// refusals).
func Refuse(w http.ResponseWriter, r *http.Request, e *Error) {
	retry := "False"
	if e.Retry {
		retry = "True"
	}
	writeJSON(w, e.Status, errorBody{
		StatusCode: e.Status, Service: "Ferry", Error: e.Message, CorrelationID: requestCorrelationID(r),
		CanBeRetried: retry, DetailedErrorCode: e.Code,
	})
}
