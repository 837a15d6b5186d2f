package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// workItem names a dataset the coordinator must take on from Validating.
type workItem struct{ companyID, datasetID string }

// processLoops is how many datasets are validated and published at once.
// Each step of a dataset is a synced write, so one loop waits on the disk
// most of the time; several share each sync (Badger batches concurrent
// commits). A company's datasets always go to the same loop, one at a
// time, so two swaps of one company's cache never race.
const processLoops = 8

func newWorkQueues() []chan workItem {
	qs := make([]chan workItem, processLoops)
	for i := range qs {
		qs[i] = make(chan workItem, 4096/processLoops)
	}
	return qs
}

// enqueue hands a committed dataset to its company's process loop,
// waiting for room: the commit call that brought it waits too, which slows
// the agents down while processing is behind. (Dropping it when the queue
// was full left it in Validating until the next start: the load tool's
// 15,000 first-link syncs dropped 10,639.) It returns without when the hub
// is closing; the next start resumes the dataset.
func (h *Hub) enqueue(w workItem) {
	f := fnv.New32a()
	f.Write([]byte(w.companyID))
	select {
	case h.work[f.Sum32()%uint32(len(h.work))] <- w:
	case <-h.ctx.Done():
	}
}

// runProcessLoop validates and publishes the committed uploads of its
// queue, one at a time, until ctx ends.
func (h *Hub) runProcessLoop(ctx context.Context, work <-chan workItem) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-work:
			if err := h.process(ctx, w); err != nil && ctx.Err() == nil {
				h.log.Error("process dataset", "dataset", w.datasetID, "err", err)
			}
		}
	}
}

// process takes a dataset from Validating (or Processing, after a restart)
// to Complete, ValidationError or ProcessingError.
func (h *Hub) process(ctx context.Context, w workItem) error {
	d, err := h.st.Dataset(ctx, w.companyID, w.datasetID)
	if err != nil {
		return err
	}
	if d.Status == dataset.Validating {
		if d, err = h.validate(ctx, d); err != nil || d.Status != dataset.Processing {
			return err
		}
	}
	if d.Status != dataset.Processing {
		return nil
	}
	d, err = h.st.PublishCache(ctx, d.CompanyID, d.ID, h.now().UTC())
	if err != nil {
		if ctx.Err() != nil {
			return err // stopping: the next start resumes it
		}
		_, rerr := h.transition(ctx, d.CompanyID, d.ID, dataset.ProcessingError, "the cache could not be updated")
		return errors.Join(err, rerr)
	}
	h.ended(d)
	h.log.Info("dataset complete", "dataset", d.ID, "company", d.CompanyID, "dataType", d.DataType)
	h.Notify(d.ConnectionID)
	return nil
}

// validate runs the validation rules over the staged records, stores the
// results, and moves the dataset on to Processing or ValidationError.
// Warnings are kept and do not fail the dataset.
func (h *Hub) validate(ctx context.Context, d store.Dataset) (store.Dataset, error) {
	res, errs, err := h.runValidation(ctx, d)
	if err != nil {
		return d, err
	}
	if err := h.st.SetValidation(ctx, d.CompanyID, d.ID, res); err != nil {
		return d, err
	}
	if errs > 0 {
		return h.transition(ctx, d.CompanyID, d.ID, dataset.ValidationError,
			fmt.Sprintf("%d validation errors; see the validation results", errs))
	}
	return h.transition(ctx, d.CompanyID, d.ID, dataset.Processing, "")
}

func (h *Hub) transition(ctx context.Context, companyID, id string, to dataset.Status, msg string) (store.Dataset, error) {
	d, err := h.st.Report(ctx, store.Report{CompanyID: companyID, DatasetID: id, Actor: store.ActorCoordinator,
		To: to, Message: msg, Now: h.now().UTC()})
	if err == nil {
		h.ended(d)
	}
	return d, err
}
