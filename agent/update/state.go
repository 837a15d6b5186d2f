package update

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// State is the update's files in the agent's state folder (Dir, beside
// the config: <config dir>/update), which every version of the agent
// reads:
//
//	statuses.json     the update statuses not yet acknowledged, in order
//	pending.json      the swap in progress (Pending), until the new
//	                  version is healthy or rolled back
//	revocations.json  the newest release revocation list seen
//	rolledback.json   the versions swapped in here and rolled back
//	download/V/       release.json, release.json.sig and the archive of V,
//	                  kept partial between attempts
type State struct {
	Dir string

	mu sync.Mutex // statuses.json
}

// StateDir is the update's state folder of the agent whose config is at
// configPath.
func StateDir(configPath string) string { return filepath.Join(filepath.Dir(configPath), "update") }

// Queued is a status kept until the coordinator acknowledges it: its
// message id is ID, so a resend after a lost ack is the same message.
type Queued struct {
	ID     string                `json:"id"`
	Status protocol.UpdateStatus `json:"status"`
}

// Pending is a swap in progress: From runs at Old, To at New; To must be
// healthy (connected) by Deadline, within MaxStarts starts.
type Pending struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Old      string    `json:"old"`
	New      string    `json:"new"`
	Deadline time.Time `json:"deadline"`
	// Starts counts the new version's starts, each counted before it does
	// anything else.
	Starts int `json:"starts"`
}

// MaxStarts is how many times the new version may start before it is
// rolled back: more is a crash loop.
const MaxStarts = 3

// Add queues st on disk and returns it with its message id.
func (s *State) Add(st protocol.UpdateStatus) (Queued, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var q []Queued
	if err := readJSON(s.path("statuses.json"), &q); err != nil {
		return Queued{}, err
	}
	item := Queued{ID: uuid.NewString(), Status: st}
	q = append(q, item)
	return item, writeJSON(s.path("statuses.json"), q)
}

// Statuses are the statuses not yet acknowledged, oldest first.
func (s *State) Statuses() ([]Queued, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var q []Queued
	return q, readJSON(s.path("statuses.json"), &q)
}

// Acked removes the status whose message id is id; false when none is.
func (s *State) Acked(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var q []Queued
	if err := readJSON(s.path("statuses.json"), &q); err != nil {
		return false, err
	}
	for i, item := range q {
		if item.ID == id {
			return true, writeJSON(s.path("statuses.json"), append(q[:i], q[i+1:]...))
		}
	}
	return false, nil
}

// Pending is the swap in progress; nil when none.
func (s *State) Pending() (*Pending, error) {
	var p *Pending
	return p, readJSON(s.path("pending.json"), &p)
}

// SetPending records p; nil removes the record.
func (s *State) SetPending(p *Pending) error {
	if p == nil {
		err := os.Remove(s.path("pending.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return writeJSON(s.path("pending.json"), p)
}

// Revocations is the newest revocation list seen; nil when none.
func (s *State) Revocations() (*release.Revocations, error) {
	var r *release.Revocations
	return r, readJSON(s.path("revocations.json"), &r)
}

// KeepRevocations records r when it is newer than the list kept: an
// older list never replaces a newer one.
func (s *State) KeepRevocations(r *release.Revocations) error {
	old, err := s.Revocations()
	if err != nil || r == nil || (old != nil && old.Serial >= r.Serial) {
		return err
	}
	return writeJSON(s.path("revocations.json"), r)
}

// RolledBack are the versions that were swapped in here and rolled
// back: the agent refuses them from then on.
func (s *State) RolledBack() ([]string, error) {
	var vs []string
	return vs, readJSON(s.path("rolledback.json"), &vs)
}

// addRolledBack records that v was rolled back.
func (s *State) addRolledBack(v string) error {
	vs, err := s.RolledBack()
	if err != nil || slices.Contains(vs, v) {
		return err
	}
	return writeJSON(s.path("rolledback.json"), append(vs, v))
}

func (s *State) path(name string) string { return filepath.Join(s.Dir, name) }

// readJSON decodes the file at path into v; a missing file leaves v as it
// is.
func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// writeJSON replaces the file at path with v, owner-only, through a
// synced temporary file renamed over it.
func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
