package pgstore

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/release"
)

func getRollout(ctx context.Context, t *tx, version string) (store.Rollout, error) {
	r, err := getDoc[store.Rollout](ctx, t, "SELECT doc FROM rollouts WHERE version = $1", version)
	return r, notFound(err, "rollout", version)
}

func putRollout(ctx context.Context, t *tx, r store.Rollout) error {
	doc, err := jsonDoc(r)
	if err != nil {
		return err
	}
	_, err = t.Exec(ctx, `INSERT INTO rollouts (version, created, active, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (version) DO UPDATE SET created = $2, active = $3, doc = $4`, r.Version, r.Created, r.Status.Active(), doc)
	return err
}

func (p *PG) CreateRollout(ctx context.Context, r store.Rollout) error {
	if err := rules.CheckRollout(r); err != nil {
		return err
	}
	r.Created = r.Created.UTC()
	return p.update(ctx, func(t *tx) error {
		var active string
		err := t.QueryRow(ctx, "SELECT version FROM rollouts WHERE active LIMIT 1").Scan(&active)
		if err == nil {
			return fmt.Errorf("rollout of %s is active: %w", active, store.ErrExists)
		}
		if !errNoRows(err) {
			return err
		}
		return putRollout(ctx, t, r)
	})
}

func (p *PG) Rollout(ctx context.Context, version string) (store.Rollout, error) {
	if err := release.CheckVersion(version); err != nil {
		return store.Rollout{}, fmt.Errorf("rollout %q: %w", version, store.ErrNotFound)
	}
	var r store.Rollout
	err := p.view(ctx, func(t *tx) (err error) {
		r, err = getRollout(ctx, t, version)
		return err
	})
	return r, err
}

func (p *PG) Rollouts(ctx context.Context) ([]store.Rollout, error) {
	var out []store.Rollout
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Rollout](ctx, t, "SELECT doc FROM rollouts ORDER BY created, version")
		return err
	})
	return out, err
}

func (p *PG) UpdateRollout(ctx context.Context, version string, fn func(*store.Rollout) error) (store.Rollout, error) {
	if err := release.CheckVersion(version); err != nil {
		return store.Rollout{}, fmt.Errorf("rollout %q: %w", version, store.ErrNotFound)
	}
	load := func(t *tx) (store.Rollout, error) { return getRollout(ctx, t, version) }
	return modify(p, ctx, load, fn, func(t *tx, old store.Rollout, r *store.Rollout) error {
		if r.Version != old.Version {
			return fmt.Errorf("update rollout %s: the version cannot change", version)
		}
		if err := rules.CheckRollout(*r); err != nil {
			return err
		}
		r.Created = r.Created.UTC()
		return putRollout(ctx, t, *r)
	})
}
