package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// maxSmallFile bounds release.json and its signature.
const maxSmallFile = 1 << 20

// fetch downloads the release file name of version v to path, at most max
// bytes. A partial file at path+".part" is resumed with a Range request
// from its size; a server that answers the whole file (200) starts it
// over. The part is renamed to path once complete (its length known from
// the server; max when the server says none).
func (u *Updater) fetch(ctx context.Context, v, name, path string, max int64) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u.cfg.Coordinator, "/")+protocol.ReleasePath(v, name), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+u.cfg.Credential)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := u.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", name, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The whole file (a server that ignores Range), or a part already
		// longer than the file: start over.
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("get %s: the partial download was longer than the file; starting over", name)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	default:
		return fmt.Errorf("get %s: the coordinator answered %s", name, resp.Status)
	}
	total := have + resp.ContentLength
	if resp.ContentLength < 0 || total > max {
		total = max
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, max-have+1))
	if err != nil {
		return fmt.Errorf("get %s: %w (%d bytes kept; the next attempt resumes)", name, err, have+n)
	}
	if have+n > max {
		return fmt.Errorf("get %s: over %d bytes: %w", name, max, errTooBig)
	}
	if resp.ContentLength >= 0 && have+n != total {
		return fmt.Errorf("get %s: %d of %d bytes (the next attempt resumes): %w", name, have+n, total, io.ErrUnexpectedEOF)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(part, path)
}

// errTooBig: a file is longer than the manifest (or the limit) allows.
var errTooBig = errors.New("too big")
