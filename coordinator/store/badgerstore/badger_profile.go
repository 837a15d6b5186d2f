package badgerstore

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// The client's profile is the key set/profileDoc, absent when none is set.

func profileKey() []byte { return key("set", "profileDoc") }

// profile is the client's profile; the zero Profile when none is set.
func profile(txn *tx) (store.Profile, error) {
	var p store.Profile
	err := getJSON(txn, profileKey(), &p)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.Profile{}, nil
	}
	return p, err
}

func (b *Badger) Profile(ctx context.Context) (store.Profile, error) {
	var p store.Profile
	err := b.view(ctx, func(txn *tx) (err error) {
		p, err = profile(txn)
		return err
	})
	return p, err
}

func (b *Badger) UpdateProfile(ctx context.Context, fn func(*store.Profile) error) (store.Profile, error) {
	var p store.Profile
	err := b.update(ctx, func(txn *tx) (err error) {
		if p, err = profile(txn); err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		if err := rules.CheckProfile(p); err != nil {
			return err
		}
		return setJSON(txn, profileKey(), p)
	})
	return p, err
}
