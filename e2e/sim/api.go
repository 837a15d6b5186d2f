package sim

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Dataset is a pull operation with its timeline, as the API serves it.
type Dataset struct {
	ID           string
	Status       string
	DataType     string
	Attempt      int
	ErrorMessage string
	Timeline     []Step
}

// Step is one transition of a dataset's timeline.
type Step struct {
	At      time.Time
	From    string
	To      string
	Actor   string
	Attempt int
	Message string
}

// Terminal reports whether a status never changes again.
func Terminal(status string) bool {
	switch status {
	case "Complete", "NotSupported", "FetchError", "MapError", "ValidationError",
		"ProcessingError", "InternalError", "AuthError":
		return true
	}
	return false
}

// Queue queues a data type on the company and returns the dataset id.
func (c *Coordinator) Queue(ctx context.Context, company, dataType string) (string, int, error) {
	var d Dataset
	s, err := c.Call(ctx, "POST", "/companies/"+company+"/data/queue/"+dataType, nil, &d)
	return d.ID, s, err
}

// Latest is dataStatus's entry for a type: the newest dataset and its
// status.
func (c *Coordinator) Latest(ctx context.Context, company, dataType string) (id, status string, err error) {
	var ds map[string]struct{ CurrentStatus, LatestSyncID string }
	s, err := c.Call(ctx, "GET", "/companies/"+company+"/dataStatus", nil, &ds)
	if err != nil || s != 200 {
		return "", "", fmt.Errorf("dataStatus %s: status %d, %v", company, s, err)
	}
	e := ds[dataType]
	return e.LatestSyncID, e.CurrentStatus, nil
}

// History lists every dataset of the company, with timelines.
func (c *Coordinator) History(ctx context.Context, company string) ([]Dataset, error) {
	var out []Dataset
	for page := 1; ; page++ {
		var p struct {
			Results      []Dataset
			TotalResults int
		}
		path := fmt.Sprintf("/companies/%s/data/history?pageSize=5000&page=%d", company, page)
		if s, err := c.Call(ctx, "GET", path, nil, &p); err != nil || s != 200 {
			return nil, fmt.Errorf("history %s: status %d, %v", company, s, err)
		}
		out = append(out, p.Results...)
		if len(p.Results) == 0 || len(out) >= p.TotalResults {
			break
		}
	}
	// The list does not carry timelines: read each dataset.
	for i, d := range out {
		full, err := c.Dataset(ctx, company, d.ID)
		if err != nil {
			return nil, err
		}
		out[i] = full
	}
	return out, nil
}

// Dataset reads one dataset with its timeline.
func (c *Coordinator) Dataset(ctx context.Context, company, id string) (Dataset, error) {
	var d Dataset
	s, err := c.Call(ctx, "GET", "/companies/"+company+"/data/history/"+id, nil, &d)
	if err != nil || s != 200 {
		return d, fmt.Errorf("dataset %s: status %d, %v", id, s, err)
	}
	return d, nil
}

// Percentiles returns p50, p99 and the max of ds (which it sorts).
func Percentiles(ds []time.Duration) (p50, p99, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}

// Parallel calls fn(0..n-1) from at most workers goroutines and returns the
// first error.
func Parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	return parallel(ctx, n, workers, fn)
}
