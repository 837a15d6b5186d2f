package badgerstore

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseFiles drops from the process's resident memory the pages of
// every shared mapping of a file in dir: Badger maps its tables, its
// value log and its memtables' logs, writes new tables and staged pages
// through those mappings, and reads them there, so a big dataset's pages
// and the tables its snapshot makes stay resident (RssFile) while their
// files are open: 200 MiB and more for a book of 500,000 journal entries.
// The mappings are shared, so the data stays in the page cache (dirty pages
// included, which msync and fsync still write) and a later read maps it
// again; only the process's RSS falls. A private mapping is left alone:
// its pages are the process's own.
func releaseFiles(dir string) {
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	if d, err := filepath.Abs(dir); err == nil {
		dir = d
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7f1c2a000000-7f1c6a000000 rw-s 00000000 08:01 1234 /data/badger/000001.vlog
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasSuffix(fields[1], "s") || filepath.Dir(fields[5]) != dir {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_DONTNEED)
	}
}
