package release

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// roots are the trusted root public keys compiled into the binary, in
// the text of FormatPublicKey, separated by commas: set at build time
// with -ldflags "-X github.com/ferry-sync/ferry/shared/release.roots=…"
// (make release does, from the root key's public half). Empty: the
// binary trusts no release.
var roots string

// Roots are the root public keys compiled into this binary.
func Roots() ([]ed25519.PublicKey, error) {
	keys, err := ParsePublicKeys(roots)
	if err != nil {
		return nil, fmt.Errorf("compiled-in release roots: %w", err)
	}
	return keys, nil
}

// FormatPublicKey is a public key's text: its 32 bytes in base64.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKeys reads public keys in FormatPublicKey's text separated
// by commas or white space; "" is none.
func ParsePublicKeys(s string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		b, err := base64.StdEncoding.DecodeString(f)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%q is not a base64 Ed25519 public key", f)
		}
		keys = append(keys, ed25519.PublicKey(b))
	}
	return keys, nil
}

// KeyIDs are the ids of keys, sorted.
func KeyIDs(keys []ed25519.PublicKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = KeyID(k)
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

// MarshalPrivateKey is a private key in PEM (PKCS #8, as openssl genpkey
// -algorithm ed25519 writes it).
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads an Ed25519 private key in PEM (PKCS #8).
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM private key (PKCS #8)")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return key, nil
}
