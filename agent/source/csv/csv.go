// Package csv is the connector for a folder of CSV exports: one file per
// data type, named as the data type (invoices.csv, chartOfAccounts.csv, or
// in lower case, chartofaccounts.csv), its first row naming the columns as
// the standard model's fields. See columns.go for the columns of each type
// and how their cells are read.
package csv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Source is a folder of CSV files.
type Source struct {
	dir string
}

var _ source.Source = (*Source)(nil)

// Open returns the source for the folder dir. It does not look at the
// folder: the agent starts even while it is missing (a network drive not
// yet mounted), and each Fetch reports what is wrong with it then.
func Open(dir string) (*Source, error) {
	if dir == "" {
		return nil, errors.New("csv: no folder given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("csv: folder %s: %w", dir, err)
	}
	return &Source{dir: abs}, nil
}

// Dir is the folder's absolute path.
func (s *Source) Dir() string { return s.dir }

// DataTypes lists the data types that have a file in the folder now. When
// the folder itself cannot be read it lists every type: which are there is
// unknown, and a Fetch will end in FetchError saying why, rather than in a
// NotSupported that would not be true.
func (s *Source) DataTypes() []dataset.DataType {
	if s.checkDir() != nil {
		return slices.Clone(dataset.DataTypes)
	}
	dts := []dataset.DataType{}
	for _, dt := range dataset.DataTypes {
		if _, err := s.file(dt); err == nil {
			dts = append(dts, dt)
		}
	}
	return dts
}

// Fetch opens dt's file. A missing folder or an unreadable file is a
// FetchError, a missing file NotSupported. The file's contents are read,
// and their faults found, by the batch's Records.
func (s *Source) Fetch(ctx context.Context, dt dataset.DataType) (source.Batch, error) {
	if err := source.Check(ctx, dt); err != nil {
		return nil, err
	}
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	path, err := s.file(dt)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, source.Fetchf(err, "cannot open %s: %v", path, source.Reason(err))
	}
	return &batch{f: f, dt: dt, name: filepath.Base(path)}, nil
}

// checkDir checks the folder is there and is a folder.
func (s *Source) checkDir() error {
	fi, err := os.Stat(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return source.Fetchf(err, "folder %s does not exist", s.dir)
	case err != nil:
		return source.Fetchf(err, "cannot read folder %s: %v", s.dir, source.Reason(err))
	case !fi.IsDir():
		return source.Fetchf(nil, "%s is not a folder", s.dir)
	}
	return nil
}

// file finds dt's file: named exactly as dt, else in lower case.
func (s *Source) file(dt dataset.DataType) (string, error) {
	for _, name := range []string{string(dt) + ".csv", strings.ToLower(string(dt)) + ".csv"} {
		path := filepath.Join(s.dir, name)
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", source.Fetchf(err, "cannot read %s: %v", path, source.Reason(err))
		case !fi.Mode().IsRegular():
			return "", source.Fetchf(nil, "%s is not a file", path)
		}
		return path, nil
	}
	return "", &source.Error{Status: dataset.NotSupported,
		Message: fmt.Sprintf("no %s.csv in folder %s", dt, s.dir)}
}
