package pgstore

import (
	"context"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// The client's profile is the row 'profileDoc' of settings, absent when
// none is set.

// profile is the client's profile; the zero Profile when none is set.
func profile(ctx context.Context, t *tx) (store.Profile, error) {
	p, err := getDoc[store.Profile](ctx, t, "SELECT doc FROM settings WHERE name = 'profileDoc'")
	if errNoRows(err) {
		return store.Profile{}, nil
	}
	return p, err
}

func (p *PG) Profile(ctx context.Context) (store.Profile, error) {
	var prof store.Profile
	err := p.view(ctx, func(t *tx) (err error) {
		prof, err = profile(ctx, t)
		return err
	})
	return prof, err
}

func (p *PG) UpdateProfile(ctx context.Context, fn func(*store.Profile) error) (store.Profile, error) {
	var prof store.Profile
	err := p.update(ctx, func(t *tx) (err error) {
		if prof, err = profile(ctx, t); err != nil {
			return err
		}
		if err := fn(&prof); err != nil {
			return err
		}
		if err := rules.CheckProfile(prof); err != nil {
			return err
		}
		doc, err := jsonDoc(prof)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, `INSERT INTO settings (name, doc) VALUES ('profileDoc', $1)
			ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc`, doc)
		return err
	})
	return prof, err
}
