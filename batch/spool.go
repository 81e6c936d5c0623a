package batch

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// itemSpool keeps items on disk between the passes of an operation whose
// targets must all be counted and checked before the first write
// (archive): one JSON line an item in an unlinked temporary file next to
// the ledger, so that memory does not grow with the number of targets.
// It holds the fields of an item that come from its source (id, key,
// file:line), not per-operation payloads.
type itemSpool struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
	n   int
}

type spooledItem struct {
	ID   string `json:"i"`
	Key  string `json:"k,omitempty"`
	File string `json:"f,omitempty"`
	Line int    `json:"l,omitempty"`
}

// newItemSpool creates an empty spool in dir.
func newItemSpool(dir string) (*itemSpool, error) {
	f, err := os.CreateTemp(dir, ".commlog-spool-*")
	if err != nil {
		return nil, fmt.Errorf("spooling targets: %w", err)
	}
	// Unlinked at once: nothing is left behind whatever ends the run.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("spooling targets: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &itemSpool{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (s *itemSpool) add(it opItem) error {
	if err := s.enc.Encode(spooledItem{ID: it.id, Key: it.key, File: it.file, Line: it.line}); err != nil {
		return fmt.Errorf("spooling targets: %w", err)
	}
	s.n++
	return nil
}

// read returns a reader from the first item; the spool takes no more adds.
func (s *itemSpool) read() (*spoolReader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("spooling targets: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spooling targets: %w", err)
	}
	return &spoolReader{dec: json.NewDecoder(bufio.NewReaderSize(s.f, 64<<10))}, nil
}

func (s *itemSpool) close() {
	if s != nil {
		s.f.Close()
	}
}

type spoolReader struct{ dec *json.Decoder }

// next returns up to n items; none after the last.
func (r *spoolReader) next(n int) ([]opItem, error) {
	var out []opItem
	for len(out) < n {
		var s spooledItem
		if err := r.dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("reading spooled targets: %w", err)
		}
		out = append(out, opItem{id: s.ID, key: s.Key, file: s.File, line: s.Line})
	}
	return out, nil
}
