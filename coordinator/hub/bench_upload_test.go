package hub

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/memtest"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// bombPage is a valid page that compresses very well: 5000 records of
// about 5.6 KB each, some 28 MB of NDJSON in about 55 KB of gzip, as an
// attacker would send to make the coordinator expand it.
func bombPage(tb testing.TB) (body []byte, raw int) {
	tb.Helper()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	pad := strings.Repeat("a", 5580)
	for i := range protocol.MaxPageRecords {
		n, _ := fmt.Fprintf(zw, `{"id":"r%05d","pad":"%s"}`+"\n", i, pad)
		raw += n
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return gz.Bytes(), raw
}

// BenchmarkUploadBombMemory sends 16 pages of 55 KB gzip expanding to
// about 28 MB each, at once, to a dataset the sender does not hold (each
// answered 404) and to datasets the senders hold (each decoded and
// stored), without their size declared as an attacker would, and declared
// as the agent does. It reports the heap's peak above what was live
// before (garbage not yet collected included, as the process's memory
// holds it), beside the limit on one page uncompressed. Run it with
//
//	go test -run '^$' -bench UploadBombMemory -benchtime 3x ./coordinator/hub/
func BenchmarkUploadBombMemory(b *testing.B) {
	const senders = 16
	body, raw := bombPage(b)
	for _, tt := range []struct {
		name           string
		held, declared bool
	}{{"not-held", false, false}, {"held", true, false}, {"held-declared", true, true}} {
		held := tt.held
		b.Run(tt.name, func(b *testing.B) {
			bh := newBenchHub(b)
			links := bh.link(senders + 1)
			type target struct {
				l             benchLink
				ds, lease     string
				status, pageN int
			}
			targets := make([]target, senders)
			for i := range targets {
				ds, lease := bh.mapping(links[i+1])
				targets[i] = target{l: links[i+1], ds: ds, lease: lease, status: http.StatusOK}
				if !held { // links[0]'s agent sends to a dataset of another agent
					targets[i] = target{l: links[0], ds: ds, lease: lease, status: http.StatusNotFound}
				}
			}
			tr := &http.Transport{MaxIdleConnsPerHost: senders}
			b.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr}
			var peak uint64
			n, size := 0, 0
			if tt.declared {
				size = raw
			}
			for b.Loop() {
				n++
				p, err := memtest.Burst(len(targets), func(i int) error {
					t := targets[i]
					return bh.put(client, t.l, t.ds, t.lease, n, body, size, t.status)
				})
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(protocol.MaxPageExpandedBytes)/(1<<20), "page-limit-MiB")
			b.ReportMetric(float64(len(body))/1024, "gzip-KiB")
			b.ReportMetric(float64(raw)/(1<<20), "page-MiB")
		})
	}
}

// put sends one page as l, declaring its size unless 0, and wants the
// given status.
func (bh *benchHub) put(client *http.Client, l benchLink, ds, lease string, n int, body []byte, size, want int) error {
	req, err := http.NewRequest(http.MethodPut, bh.url+protocol.PagePath(ds, n), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+l.cred)
	req.Header.Set(protocol.LeaseHeader, lease)
	req.Header.Set("Content-Type", protocol.PageContentType)
	req.Header.Set("Content-Encoding", "gzip")
	if size > 0 {
		req.Header.Set(protocol.PageBytesHeader, fmt.Sprint(size))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("page %d of %s: %d, want %d", n, ds, resp.StatusCode, want)
	}
	return nil
}
