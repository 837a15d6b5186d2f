package sim

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Synthetic is a source that provides customers only: Records customers
// made from the company's index, the same every time, so that a cache can
// be checked against it. OnFetch and OnClose, when set, see each dataset
// start (the agent holds the lease) and end.
type Synthetic struct {
	Index   int
	Records int
	OnFetch func()
	OnClose func()
}

// DataTypes is customers only: the other first-link types end NotSupported.
func (s *Synthetic) DataTypes() []dataset.DataType { return []dataset.DataType{dataset.Customers} }

// Fetch starts a dataset.
func (s *Synthetic) Fetch(ctx context.Context, dt dataset.DataType) (source.Batch, error) {
	if s.OnFetch != nil {
		s.OnFetch()
	}
	if dt != dataset.Customers {
		return nil, &source.Error{Status: dataset.NotSupported, Message: "synthetic source has customers only"}
	}
	return &synthBatch{s: s}, nil
}

type synthBatch struct{ s *Synthetic }

func (b *synthBatch) Records(ctx context.Context, emit func(source.Record) error) error {
	for i := range b.s.Records {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(Customer(b.s.Index, i)); err != nil {
			return err
		}
	}
	return nil
}

func (b *synthBatch) Close() error {
	if b.s.OnClose != nil {
		b.s.OnClose()
	}
	return nil
}

// Customer is record i of agent index's source.
func Customer(index, i int) source.Record {
	return source.Record{
		"id":           fmt.Sprintf("C%07d", i),
		"customerName": fmt.Sprintf("Customer %d of %d Ltd", i, index),
		"emailAddress": fmt.Sprintf("accounts%d@example.com", i),
		"status":       "Active",
	}
}
