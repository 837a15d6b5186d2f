// Package linkcode makes and checks the one-time codes an end user types to
// link an agent to a connection: eight characters of Crockford's base32
// (no I, L, O or U), shown as XXXX-XXXX, typed in any case, with or without
// the dash. Only a code's hash is ever a store key.
package linkcode

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Length is the number of code characters, without the dash: 40 bits.
const Length = 8

// New returns a new random code in its display form and its hash.
func New() (code string, hash []byte) {
	var b [Length]byte
	_, _ = rand.Read(b[:])
	var sb strings.Builder
	for i, v := range b {
		if i == Length/2 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(v)%len(alphabet)])
	}
	code = sb.String()
	return code, Hash(code)
}

// Normalize turns what a person typed into the canonical code: upper case,
// no dashes or spaces, and the letters people confuse read as digits
// (O as 0, I and L as 1). It returns "" when the input cannot be a code.
func Normalize(s string) string {
	if len(s) > 32 {
		return ""
	}
	var sb strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(alphabet, r) {
			return ""
		}
		sb.WriteRune(r)
	}
	if sb.Len() != Length {
		return ""
	}
	return sb.String()
}

// Hash is the store key of a code in any typed form; nil if it cannot be one.
func Hash(code string) []byte {
	n := Normalize(code)
	if n == "" {
		return nil
	}
	h := sha256.Sum256([]byte("ferry-link-code:" + n))
	return h[:]
}
