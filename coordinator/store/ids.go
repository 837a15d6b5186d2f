package store

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxIDLen is the longest id, in bytes, of any stored object.
const MaxIDLen = 128

// CheckID says whether id can name a stored object: 1 to MaxIDLen bytes of
// valid UTF-8 with no '/' (the key separator) and no control character.
// The API and the hub check every id of a request path with it, and the
// store refuses (checkID) or does not find (lookupIDs) an id that fails it.
func CheckID(id string) error {
	if id == "" {
		return errors.New("id is empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id is longer than %d bytes", MaxIDLen)
	}
	if !utf8.ValidString(id) {
		return errors.New("id is not valid UTF-8")
	}
	for _, r := range id {
		if r == '/' || unicode.IsControl(r) {
			return fmt.Errorf("id has the character %U, not allowed in ids", r)
		}
	}
	return nil
}
