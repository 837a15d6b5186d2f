package bundle

import (
	"bytes"
	"os"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
)

// bookInfo is one binding in books.json: where its data is and what is
// there, never what it holds.
type bookInfo struct {
	ConnectionID string `json:"connectionId"`
	CompanyID    string `json:"companyId"`
	PlatformKey  string `json:"platformKey"`
	Path         string `json:"path"`
	fileInfo
	// Entries are a folder's files (a CSV source), at most
	// maxFolderEntries.
	Entries []fileInfo `json:"entries,omitempty"`
	// More is how many entries were left out.
	More int `json:"more,omitempty"`
}

// fileInfo is a file's metadata.
type fileInfo struct {
	Name     string `json:"name,omitempty"`
	Size     int64  `json:"size"`
	Modified string `json:"modified,omitempty"`
	// Format is what the file's first bytes say it is: gzip, sqlite,
	// xml, directory or unknown.
	Format string `json:"format,omitempty"`
	Error  string `json:"error,omitempty"`
}

func books(bs []config.Binding) []bookInfo {
	out := []bookInfo{}
	for _, b := range bs {
		bi := bookInfo{ConnectionID: b.ConnectionID, CompanyID: b.CompanyID, PlatformKey: b.PlatformKey, Path: b.Path}
		bi.fileInfo = stat(b.Path)
		if bi.Format == "directory" {
			bi.Entries, bi.More = folder(b.Path)
		}
		out = append(out, bi)
	}
	return out
}

func stat(path string) fileInfo {
	st, err := os.Stat(path)
	if err != nil {
		return fileInfo{Error: err.Error()}
	}
	fi := fileInfo{Size: st.Size(), Modified: st.ModTime().UTC().Format(time.RFC3339)}
	if st.IsDir() {
		fi.Format = "directory"
		return fi
	}
	fi.Format = format(path)
	return fi
}

func folder(path string) ([]fileInfo, int) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return []fileInfo{{Error: err.Error()}}, 0
	}
	var out []fileInfo
	for i, e := range entries {
		if i == maxFolderEntries {
			return out, len(entries) - i
		}
		fi := fileInfo{Name: e.Name()}
		if st, err := e.Info(); err == nil {
			fi.Size, fi.Modified = st.Size(), st.ModTime().UTC().Format(time.RFC3339)
		}
		out = append(out, fi)
	}
	return out, 0
}

// format reads the first bytes of the file at path, enough to name its
// format, and no more.
func format(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := f.Read(head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return "sqlite"
	case bytes.HasPrefix(bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n"), []byte("<")):
		return "xml"
	}
	return "unknown"
}
