package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/shared/release"
)

// The files of a keys folder.
const (
	rootKeyFile     = "root.key"
	rootPubFile     = "root.pub"
	signingKeyFile  = "signing.key"
	signingCertFile = "signing.cert"
)

// testValidity is how long a test signing key is certified for.
const testValidity = 2 * 365 * 24 * time.Hour

// runKeys makes, in -dir, a test root key (or takes -root-key's) and a
// signing key it certifies, unless they are there: later runs reuse them.
func runKeys(set *flag.FlagSet, args []string, out io.Writer) error {
	dir := set.String("dir", ".release-keys", "folder of the keys")
	rootKey := set.String("root-key", "", "root private key (PEM) to use instead of the folder's (made when missing)")
	if err := set.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if *rootKey == "" {
		*rootKey = filepath.Join(*dir, rootKeyFile)
		if _, err := os.Stat(*rootKey); errors.Is(err, fs.ErrNotExist) {
			if _, err := newKeyFile(*rootKey); err != nil {
				return err
			}
			fmt.Fprintln(out, "made a test root key:", *rootKey)
		}
	}
	root, err := readKey(*rootKey)
	if err != nil {
		return err
	}
	pub := release.FormatPublicKey(root.Public().(ed25519.PublicKey)) + "\n"
	if err := os.WriteFile(filepath.Join(*dir, rootPubFile), []byte(pub), 0o644); err != nil {
		return err
	}
	cert := filepath.Join(*dir, signingCertFile)
	if _, err := os.Stat(cert); err == nil {
		return nil
	}
	fmt.Fprintln(out, "made a test signing key:", filepath.Join(*dir, signingKeyFile))
	now := time.Now()
	return certifyFile(root, filepath.Join(*dir, signingKeyFile), cert, now, now.Add(testValidity))
}

// runCertify has the root certify a signing key (made when its file is
// missing): how a signing key is rotated.
func runCertify(set *flag.FlagSet, args []string, out io.Writer) error {
	rootKey := set.String("root-key", "", "root private key (PEM)")
	key := set.String("key", "", "signing private key (PEM), made when missing")
	cert := set.String("out", "", "certificate file to write")
	valid := set.Duration("valid", 365*24*time.Hour, "how long the certificate is valid from now")
	if err := set.Parse(args); err != nil {
		return err
	}
	if *rootKey == "" || *key == "" || *cert == "" {
		return errors.New("certify: -root-key, -key and -out are required")
	}
	root, err := readKey(*rootKey)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := certifyFile(root, *key, *cert, now, now.Add(*valid)); err != nil {
		return err
	}
	fmt.Fprintln(out, "certified", *key, "until", now.Add(*valid).UTC().Format(time.RFC3339), "in", *cert)
	return nil
}

// certifyFile certifies the signing key in keyPath (made when missing)
// into certPath.
func certifyFile(root ed25519.PrivateKey, keyPath, certPath string, from, to time.Time) error {
	key, err := readKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = newKeyFile(keyPath)
	}
	if err != nil {
		return err
	}
	c, err := release.Certify(root, key.Public().(ed25519.PublicKey), from, to)
	if err != nil {
		return err
	}
	return writeJSON(certPath, c)
}

// runRevoke adds signing key ids to the root's revocation list.
func runRevoke(set *flag.FlagSet, args []string, out io.Writer) error {
	rootKey := set.String("root-key", "", "root private key (PEM)")
	list := set.String("list", "", "revocation list to update (made when missing)")
	if err := set.Parse(args); err != nil {
		return err
	}
	if *rootKey == "" || *list == "" || set.NArg() == 0 {
		return errors.New("revoke: -root-key, -list and the key ids are required")
	}
	root, err := readKey(*rootKey)
	if err != nil {
		return err
	}
	var prev *release.Revocations
	if s, err := readSigned(*list); err == nil {
		r, err := release.OpenRevocations(s, []ed25519.PublicKey{root.Public().(ed25519.PublicKey)})
		if err != nil {
			return fmt.Errorf("%s: %w", *list, err)
		}
		prev = &r
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s, r, err := release.Revoke(root, prev, set.Args(), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "revocation list %d revokes %v\n", r.Serial, r.Revoked)
	return writeJSON(*list, s)
}

// newKeyFile makes a private key and writes it to path (0600).
func newKeyFile(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err := release.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// readKey reads a private key file.
func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := release.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// readSigned reads a certificate or a revocation list.
func readSigned(path string) (release.Signed, error) {
	var s release.Signed
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
