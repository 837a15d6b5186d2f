package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// EncodeLines is p's line index as a backend stores it beside the page
// (nil when the uploader gave none): per line, the id's length, the id,
// the line's start and its length, the numbers as uvarints. A line out of
// p's data is refused.
func EncodeLines(p Page) ([]byte, error) {
	var index []byte
	for _, l := range p.Lines {
		if l.ID == "" || l.Start < 0 || l.Start > l.End || l.End > len(p.Data) {
			return nil, fmt.Errorf("page %d of dataset %s: line %q out of its data", p.N, p.DatasetID, l.ID)
		}
		index = binary.AppendUvarint(index, uint64(len(l.ID)))
		index = append(index, l.ID...)
		index = binary.AppendUvarint(index, uint64(l.Start))
		index = binary.AppendUvarint(index, uint64(l.End-l.Start))
	}
	return index, nil
}

// EachIndexed calls fn with the id and JSON of each line of a page's
// index, as EncodeLines wrote it; the id shares index and the JSON data.
// An index that does not fit data is an error.
func EachIndexed(index, data []byte, fn func(id, rec []byte) error) error {
	return EachLine(index, len(data), func(id []byte, start, n int) error {
		return fn(id, data[start:start+n:start+n])
	})
}

// EachLine calls fn with the id, start and length of each line of a
// page's index, as EncodeLines wrote it, in data of size bytes; the id
// shares index. An index that does not fit the data is an error.
func EachLine(index []byte, size int, fn func(id []byte, start, n int) error) error {
	for len(index) > 0 {
		var f [3]uint64
		var id []byte
		for i := range f {
			n, w := binary.Uvarint(index)
			if w <= 0 {
				return errors.New("bad page index")
			}
			f[i], index = n, index[w:]
			if i == 0 {
				if n > uint64(len(index)) {
					return errors.New("bad page index")
				}
				id, index = index[:n], index[n:]
			}
		}
		if f[1] > uint64(size) || f[2] > uint64(size)-f[1] {
			return errors.New("bad page index")
		}
		if err := fn(id, int(f[1]), int(f[2])); err != nil {
			return err
		}
	}
	return nil
}
