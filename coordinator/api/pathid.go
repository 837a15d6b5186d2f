package api

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// pathIDs returns the wildcard names of a route pattern, in order.
func pathIDs(pattern string) []string {
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return names
}

// checkPathIDs checks every id in the request's path before a handler sees
// it. An id that no object can have (invalid UTF-8, a control character,
// a '/', over the length limit) names nothing: 404 not found, the same
// answer as a well-formed id that does not exist, so the answer says
// nothing more about the id than that. Record ids follow the rule of the
// records themselves (they may hold a '/'); every other id, the store's.
func checkPathIDs(r *http.Request, names []string) error {
	for _, name := range names {
		if !validPathID(name, r.PathValue(name)) {
			return errorf(http.StatusNotFound, CodeNotFound, "not found")
		}
	}
	return nil
}

func validPathID(name, v string) bool {
	if name == "recordId" {
		return utf8.ValidString(v) && protocol.CheckRecordID(v) == nil
	}
	return store.CheckID(v) == nil
}
