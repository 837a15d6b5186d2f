// Package release is the agent's signed releases: the manifest
// (release.json) that names each platform's archive with its size and
// SHA-256, the detached Ed25519 signature beside it (release.json.sig),
// the certificate by which a root key vouches for the signing key, the
// root's list of revoked signing keys, and the checks that a release must
// pass before anything of it is trusted: the chain to a root compiled into
// the binary, the certificate's validity, revocation, the signature, each
// archive's size and hash, and no downgrade. Keys and signatures are the
// standard library's crypto/ed25519.
//
// Every signed document (certificate, revocations) is carried as the
// exact bytes that were signed (in base64), beside the signature
// (Signed), so that nothing is re-encoded before a check; each names its
// own type, so that a signature over one kind of document is never taken
// for another.
package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The kinds of signed document, each in its own "type" field.
const (
	TypeManifest    = "ferry-agent-release"
	TypeCertificate = "ferry-release-signing-key"
	TypeRevocations = "ferry-release-revocations"
)

// The file names of a release's folder (the archives beside them are
// named in the manifest).
const (
	ManifestFile  = "release.json"
	SignatureFile = "release.json.sig"
)

// Why a release is refused: each check's error wraps one of these.
var (
	// ErrMalformed: a document does not decode, or lacks a field.
	ErrMalformed = errors.New("malformed")
	// ErrUnknownKey: the certificate is signed by no trusted root.
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadSignature: a signature does not match its document.
	ErrBadSignature = errors.New("bad signature")
	// ErrExpired: the signing key's certificate is not valid now.
	ErrExpired = errors.New("certificate expired")
	// ErrRevoked: the root revoked the signing key.
	ErrRevoked = errors.New("signing key revoked")
	// ErrTampered: an archive's size or SHA-256 is not the manifest's.
	ErrTampered = errors.New("archive tampered")
	// ErrDowngrade: the release's version is not newer than the one
	// running.
	ErrDowngrade = errors.New("downgrade")
)

// Reason is the short name of why err refused a release, for an API
// field or an event: "malformed", "unknownKey", "badSignature",
// "expired", "revoked", "tampered", "downgrade"; "" when err is none of
// them.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{{ErrMalformed, "malformed"}, {ErrUnknownKey, "unknownKey"}, {ErrBadSignature, "badSignature"},
		{ErrExpired, "expired"}, {ErrRevoked, "revoked"}, {ErrTampered, "tampered"}, {ErrDowngrade, "downgrade"}} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return ""
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Signed is a document with a signature over its exact bytes by the key
// KeyID names. The document is kept in base64, as its signature is: an
// indenting encoder would change the bytes of raw JSON.
type Signed struct {
	Signed    []byte `json:"signed"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"`
}

// sign encodes v and signs the bytes with key.
func sign(v any, key ed25519.PrivateKey) (Signed, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Signed{}, err
	}
	pub := key.Public().(ed25519.PublicKey)
	return Signed{Signed: b, KeyID: KeyID(pub), Signature: ed25519.Sign(key, b)}, nil
}

// open checks s's signature by one of keys and decodes it into v, whose
// Type must be typ. A signature by none of keys is ErrUnknownKey; one
// that does not match is ErrBadSignature.
func (s Signed) open(keys []ed25519.PublicKey, typ string, v any) (ed25519.PublicKey, error) {
	i := slices.IndexFunc(keys, func(k ed25519.PublicKey) bool { return KeyID(k) == s.KeyID })
	if i < 0 {
		return nil, fmt.Errorf("%s signed by key %s, which is no trusted root: %w", typ, s.KeyID, ErrUnknownKey)
	}
	if !ed25519.Verify(keys[i], s.Signed, s.Signature) {
		return nil, fmt.Errorf("%s: signature by key %s does not match: %w", typ, s.KeyID, ErrBadSignature)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(s.Signed, &head); err != nil || head.Type != typ {
		return nil, fmt.Errorf("signed document is a %q, not a %s: %w", head.Type, typ, ErrMalformed)
	}
	if err := json.Unmarshal(s.Signed, v); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", typ, err, ErrMalformed)
	}
	return keys[i], nil
}

// Certificate is a root's word that a signing key may sign releases from
// NotBefore until NotAfter.
type Certificate struct {
	Type      string            `json:"type"`
	KeyID     string            `json:"keyId"`
	PublicKey ed25519.PublicKey `json:"publicKey"`
	NotBefore time.Time         `json:"notBefore"`
	NotAfter  time.Time         `json:"notAfter"`
}

// Certify has root vouch for the signing key pub from notBefore to
// notAfter.
func Certify(root ed25519.PrivateKey, pub ed25519.PublicKey, notBefore, notAfter time.Time) (Signed, error) {
	if !notBefore.Before(notAfter) {
		return Signed{}, errors.New("certify: notBefore must be before notAfter")
	}
	return sign(Certificate{Type: TypeCertificate, KeyID: KeyID(pub), PublicKey: pub,
		NotBefore: notBefore.UTC(), NotAfter: notAfter.UTC()}, root)
}

// Revocations is a root's list of revoked signing keys. A list with a
// higher Serial replaces one with a lower: revocations only grow.
type Revocations struct {
	Type    string    `json:"type"`
	Serial  int64     `json:"serial"`
	Issued  time.Time `json:"issued"`
	Revoked []string  `json:"revoked"`
}

// Revoke has root sign the list prev (nil: none yet) with the key ids
// added and its serial one higher.
func Revoke(root ed25519.PrivateKey, prev *Revocations, keyIDs []string, now time.Time) (Signed, Revocations, error) {
	next := Revocations{Type: TypeRevocations, Serial: 1, Issued: now.UTC()}
	if prev != nil {
		next.Serial = prev.Serial + 1
		next.Revoked = slices.Clone(prev.Revoked)
	}
	for _, id := range keyIDs {
		if !slices.Contains(next.Revoked, id) {
			next.Revoked = append(next.Revoked, id)
		}
	}
	slices.Sort(next.Revoked)
	s, err := sign(next, root)
	return s, next, err
}

// OpenRevocations checks a revocation list's signature by one of roots.
func OpenRevocations(s Signed, roots []ed25519.PublicKey) (Revocations, error) {
	var r Revocations
	_, err := s.open(roots, TypeRevocations, &r)
	return r, err
}

// Archive is one platform's archive in a manifest.
type Archive struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest is release.json: a version of the agent and its archives by
// platform ("linux-amd64", "linux-arm64", "windows-amd64"), with the
// signing key's certificate and the newest revocation list the signer
// knew (the verifier keeps the newer of it and its own).
type Manifest struct {
	Type        string             `json:"type"`
	Version     string             `json:"version"`
	Created     time.Time          `json:"created"`
	Platforms   map[string]Archive `json:"platforms"`
	Certificate Signed             `json:"certificate"`
	Revocations *Signed            `json:"revocations,omitempty"`
}

// Sign encodes m (its Type set) and signs it with key: release.json's
// bytes and its detached signature, release.json.sig (base64, one line).
func Sign(m Manifest, key ed25519.PrivateKey) (manifest, sig []byte, err error) {
	m.Type = TypeManifest
	if err := CheckVersion(m.Version); err != nil {
		return nil, nil, err
	}
	manifest, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	manifest = append(manifest, '\n')
	s := ed25519.Sign(key, manifest)
	return manifest, []byte(base64.StdEncoding.EncodeToString(s) + "\n"), nil
}

// Trust is what a verifier trusts: the root public keys (compiled into
// the binary: Roots), the newest revocation list it already knows
// (nil: none), and the time certificates are checked at.
type Trust struct {
	Roots       []ed25519.PublicKey
	Revocations *Revocations
	Now         time.Time
}

// VerifyManifest checks release.json's bytes and their signature: the
// signing key's certificate is signed by a trusted root and valid at
// trust.Now, the key is on neither the known revocation list nor the
// manifest's (when newer and signed by a root), and sig is its signature
// over manifest. It returns the manifest and the newest revocation list
// seen, which the caller keeps to refuse a release that carries an older
// one.
func VerifyManifest(manifest, sig []byte, trust Trust) (Manifest, *Revocations, error) {
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return m, trust.Revocations, fmt.Errorf("%s: %v: %w", ManifestFile, err, ErrMalformed)
	}
	if m.Type != TypeManifest {
		return m, trust.Revocations, fmt.Errorf("%s is a %q, not a %s: %w", ManifestFile, m.Type, TypeManifest, ErrMalformed)
	}
	if err := CheckVersion(m.Version); err != nil {
		return m, trust.Revocations, err
	}
	revs, err := newestRevocations(m.Revocations, trust)
	if err != nil {
		return m, trust.Revocations, err
	}
	var cert Certificate
	if _, err := m.Certificate.open(trust.Roots, TypeCertificate, &cert); err != nil {
		return m, revs, err
	}
	switch {
	case len(cert.PublicKey) != ed25519.PublicKeySize || KeyID(cert.PublicKey) != cert.KeyID:
		return m, revs, fmt.Errorf("certificate of key %s: the public key does not match its id: %w", cert.KeyID, ErrMalformed)
	case trust.Now.Before(cert.NotBefore) || !trust.Now.Before(cert.NotAfter):
		return m, revs, fmt.Errorf("signing key %s is certified from %s to %s, not at %s: %w", cert.KeyID,
			cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339), trust.Now.UTC().Format(time.RFC3339), ErrExpired)
	case revs != nil && slices.Contains(revs.Revoked, cert.KeyID):
		return m, revs, fmt.Errorf("signing key %s is on the root's revocation list (serial %d): %w", cert.KeyID, revs.Serial, ErrRevoked)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sig)))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return m, revs, fmt.Errorf("%s is not a base64 Ed25519 signature: %w", SignatureFile, ErrMalformed)
	}
	if !ed25519.Verify(cert.PublicKey, manifest, raw) {
		return m, revs, fmt.Errorf("%s does not match %s for signing key %s: %w", SignatureFile, ManifestFile, cert.KeyID, ErrBadSignature)
	}
	if len(m.Platforms) == 0 {
		return m, revs, fmt.Errorf("%s names no platform: %w", ManifestFile, ErrMalformed)
	}
	for p, a := range m.Platforms {
		if err := checkArchive(p, a); err != nil {
			return m, revs, err
		}
	}
	return m, revs, nil
}

// newestRevocations is the newer of the known list and the manifest's,
// which must be signed by a root.
func newestRevocations(s *Signed, trust Trust) (*Revocations, error) {
	if s == nil {
		return trust.Revocations, nil
	}
	r, err := OpenRevocations(*s, trust.Roots)
	if err != nil {
		return trust.Revocations, fmt.Errorf("the release's revocation list: %w", err)
	}
	if trust.Revocations != nil && trust.Revocations.Serial >= r.Serial {
		return trust.Revocations, nil
	}
	return &r, nil
}

// checkArchive checks one manifest entry's fields: a plain file name, a
// size, a SHA-256 in hex.
func checkArchive(platform string, a Archive) error {
	h, err := hex.DecodeString(a.SHA256)
	switch {
	case platform == "" || strings.ContainsAny(platform, `/\`):
		return fmt.Errorf("platform %q: %w", platform, ErrMalformed)
	case a.Name == "" || a.Name != strings.TrimLeft(a.Name, ".") || strings.ContainsAny(a.Name, `/\`):
		return fmt.Errorf("%s: archive name %q is not a plain file name: %w", platform, a.Name, ErrMalformed)
	case a.Size <= 0 || err != nil || len(h) != sha256.Size:
		return fmt.Errorf("%s: %s needs a size and a SHA-256: %w", platform, a.Name, ErrMalformed)
	}
	return nil
}

// PlatformNames are the manifest's platforms, sorted.
func (m Manifest) PlatformNames() []string {
	names := make([]string, 0, len(m.Platforms))
	for p := range m.Platforms {
		names = append(names, p)
	}
	slices.Sort(names)
	return names
}
