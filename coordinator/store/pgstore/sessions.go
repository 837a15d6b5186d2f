package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// checkSessionID refuses an id that is not a SHA-256.
func checkSessionID(id []byte) error {
	if len(id) != 32 {
		return fmt.Errorf("session id: %d bytes, want 32: %w", len(id), store.ErrNotFound)
	}
	return nil
}

func (p *PG) CreateSession(ctx context.Context, s store.Session) error {
	if len(s.ID) != 32 {
		return fmt.Errorf("session id: %d bytes, want 32", len(s.ID))
	}
	s.Created, s.Seen = s.Created.UTC(), s.Seen.UTC()
	doc, err := jsonDoc(s)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "INSERT INTO sessions (id, created, seen, doc) VALUES ($1, $2, $3, $4)", s.ID, s.Created, s.Seen, doc)
		if isUnique(err) {
			return fmt.Errorf("session: %w", store.ErrExists)
		}
		return err
	})
}

func getSession(ctx context.Context, t *tx, id []byte) (store.Session, error) {
	s, err := getDoc[store.Session](ctx, t, "SELECT doc FROM sessions WHERE id = $1", id)
	return s, notFound(err, "session", "")
}

func (p *PG) Session(ctx context.Context, id []byte) (store.Session, error) {
	var s store.Session
	if err := checkSessionID(id); err != nil {
		return s, err
	}
	err := p.view(ctx, func(t *tx) (err error) {
		s, err = getSession(ctx, t, id)
		return err
	})
	return s, err
}

// TouchSession compares the stored Seen to seen in Go, as badgerstore
// does, in a SERIALIZABLE read-modify-write: touches of one session are
// rare (the Portal touches it once a minute at most).
func (p *PG) TouchSession(ctx context.Context, id []byte, seen time.Time) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		s, err := getSession(ctx, t, id)
		if err != nil || !seen.After(s.Seen) {
			return err
		}
		s.Seen = seen.UTC()
		doc, err := jsonDoc(s)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, "UPDATE sessions SET seen = $2, doc = $3 WHERE id = $1", id, s.Seen, doc)
		return err
	})
}

func (p *PG) SetSessionNotes(ctx context.Context, id []byte, notes []byte) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	if len(notes) > store.MaxSessionNotes {
		return fmt.Errorf("session notes: %d bytes, over %d", len(notes), store.MaxSessionNotes)
	}
	return p.update(ctx, func(t *tx) error {
		s, err := getSession(ctx, t, id)
		if err != nil {
			return err
		}
		s.Notes = notes
		doc, err := jsonDoc(s)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, "UPDATE sessions SET doc = $2 WHERE id = $1", id, doc)
		return err
	})
}

func (p *PG) DeleteSession(ctx context.Context, id []byte) error {
	if checkSessionID(id) != nil {
		return nil
	}
	return p.readCommitted(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id)
		return err
	})
}

func (p *PG) PruneSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	return p.prune(ctx, "sessions", `DELETE FROM sessions WHERE id IN
			(SELECT id FROM sessions WHERE seen < $1 OR created < $2 LIMIT $3)
		AND (seen < $1 OR created < $2)`, seenBefore.UTC(), createdBefore.UTC(), pruneBatch)
}
