package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is the incremental export's state file.
type State struct {
	// HighWaterMark is where the next run starts (inclusive), UTC
	// ISO-8601; "" before the first successful run.
	HighWaterMark string   `json:"high_water_mark"`
	LastRun       *LastRun `json:"last_run,omitempty"`
}

// LastRun records the run that set the mark.
type LastRun struct {
	Mode       string `json:"mode"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
	WindowFrom string `json:"window_from,omitempty"`
	WindowTo   string `json:"window_to"`
	Output     string `json:"output"`
	Format     Format `json:"format"`
	Records    int64  `json:"records"`
	Archived   int64  `json:"archived"`
	Pages      int64  `json:"pages"`
	Requests   int64  `json:"requests"`
}

// mark parses HighWaterMark; ok is false when there is none yet.
func (s *State) mark() (t time.Time, ok bool, err error) {
	if s == nil || s.HighWaterMark == "" {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339Nano, s.HighWaterMark)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("high_water_mark %q is not an ISO-8601 time", s.HighWaterMark)
	}
	return t.UTC(), true, nil
}

// ReadState reads a state file; a file that does not exist yet is no
// state (nil, nil). A file that exists but cannot be read is an error,
// never a silent restart from scratch.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export: reading state: %w", err)
	}
	s, err := parseState(b)
	if err != nil {
		return nil, fmt.Errorf("export: state file %s: %w", path, err)
	}
	return s, nil
}

func parseState(b []byte) (*State, error) {
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(b, se.Offset)
			return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
		}
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if _, _, err := s.mark(); err != nil {
		return nil, err
	}
	return &s, nil
}

func lineCol(b []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(b)))
	line, col := 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// WriteState replaces the state file atomically: a temporary file in the
// same directory, fsync, rename, fsync of the directory.
func WriteState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: writing state: %w", err)
	}
	_, err = tmp.Write(b)
	if serr := tmp.Sync(); err == nil {
		err = serr
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("export: writing state %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}
