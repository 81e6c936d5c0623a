package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// Persistence: StateDir holds snapshot.jsonl (the state at the last clean
// Close) and wal.jsonl (every write since). Each handled write request
// appends exactly one line — the JSON array of its operations — with one
// write(2) before its response is sent, so a kill -9 loses at most the
// request in flight (the page cache survives the process). A torn last
// line is skipped on replay. Close writes a new snapshot (fsync + rename)
// and empties the log.

type walObject struct {
	ID         uint64            `json:"id"`
	Props      map[string]string `json:"p"`
	Created    int64             `json:"c"`
	Updated    int64             `json:"u"`
	Archived   bool              `json:"a,omitempty"`
	ArchivedAt int64             `json:"aa,omitempty"`
}

type walOp struct {
	Op    string       `json:"op"` // reset, next, prop, put, assoc, unassoc
	T     string       `json:"t,omitempty"`
	ID    uint64       `json:"id,omitempty"`
	ToID  uint64       `json:"to,omitempty"`
	Assoc int          `json:"at,omitempty"`
	All   bool         `json:"all,omitempty"`
	Obj   *walObject   `json:"o,omitempty"`
	Prop  *propertyDef `json:"prop,omitempty"`
}

const (
	walName      = "wal.jsonl"
	snapshotName = "snapshot.jsonl"
)

type wal struct {
	dir string
	f   *os.File
	buf bytes.Buffer
}

// openState replays dir's snapshot and log into st and opens the log for
// appending. It reports whether any state was found.
func openState(dir string, st *store, log *slog.Logger) (*wal, bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("sandbox state dir: %w", err)
	}
	found := false
	for _, name := range []string{snapshotName, walName} {
		n, err := replayFile(filepath.Join(dir, name), st, log)
		if err != nil {
			return nil, false, err
		}
		found = found || n > 0
	}
	f, err := os.OpenFile(filepath.Join(dir, walName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("sandbox state: %w", err)
	}
	return &wal{dir: dir, f: f}, found, nil
}

// replayFile applies every complete line of path. A line that does not
// parse is tolerated only as the last one (a write torn by a crash).
func replayFile(path string, st *store, log *slog.Logger) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sandbox state: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	n, line := 0, 0
	var bad error
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			line++
			if bad != nil {
				return n, bad
			}
			var ops []walOp
			if uerr := json.Unmarshal(b, &ops); uerr != nil || b[len(b)-1] != '\n' {
				bad = fmt.Errorf("sandbox state %s:%d: corrupt entry", path, line)
			} else {
				for _, op := range ops {
					st.apply(op)
				}
				n++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("sandbox state %s: %w", path, err)
		}
	}
	if bad != nil {
		log.Warn("sandbox state: skipped a torn last entry (crash during a write)", "file", path, "line", line)
	}
	return n, nil
}

// append writes one request's operations as one line.
func (w *wal) append(ops []walOp) error {
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	if err := enc.Encode(ops); err != nil {
		return fmt.Errorf("sandbox wal encode: %w", err)
	}
	if _, err := w.f.Write(w.buf.Bytes()); err != nil {
		return fmt.Errorf("sandbox wal write: %w", err)
	}
	return nil
}

// compact writes st as a snapshot and truncates the log.
func (w *wal) compact(st *store) error {
	tmp := filepath.Join(w.dir, snapshotName+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sandbox snapshot: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	batch := make([]walOp, 0, 256)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := enc.Encode(batch)
		batch = batch[:0]
		return err
	}
	err = st.snapshot(func(op walOp) error {
		batch = append(batch, op)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sandbox snapshot: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, snapshotName)); err != nil {
		return fmt.Errorf("sandbox snapshot: %w", err)
	}
	// Replaying the old log over the new snapshot would also be correct
	// (operations are absolute), so a crash right here loses nothing.
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("sandbox wal truncate: %w", err)
	}
	return nil
}

func (w *wal) close() error { return w.f.Close() }
