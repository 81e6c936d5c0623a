package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Persistence: StateDir holds snapshot.jsonl (the state at the last clean
// Close) and wal.jsonl (every write since). Each handled write request
// appends exactly one line — the JSON array of its operations — and its
// response is sent only after that line has been written with write(2), so
// a kill -9 loses at most the requests in flight, none that were answered
// (the page cache survives the process). A torn last line is skipped on
// replay. Close writes a new snapshot (fsync + rename) and empties the log.
//
// Group commit: a request encodes its line into a shared buffer while it
// holds the server's lock (so lines keep the order of the state changes),
// then, with the lock released, waits until a write(2) has covered its
// line. Whichever waiter gets there first writes everything queued so far
// in one call; the others find their line already written. Under load that
// is one system call for many requests instead of one each.

type walObject struct {
	ID         uint64            `json:"id"`
	Props      map[string]string `json:"p"`
	Created    int64             `json:"c"`
	Updated    int64             `json:"u"`
	Archived   bool              `json:"a,omitempty"`
	ArchivedAt int64             `json:"aa,omitempty"`
}

type walOp struct {
	Op    string         `json:"op"` // reset, next, group, prop, put, assoc, unassoc
	T     string         `json:"t,omitempty"`
	ID    uint64         `json:"id,omitempty"`
	ToID  uint64         `json:"to,omitempty"`
	Assoc int            `json:"at,omitempty"`
	All   bool           `json:"all,omitempty"`
	Obj   *walObject     `json:"o,omitempty"`
	Prop  *propertyDef   `json:"prop,omitempty"`
	Group *propertyGroup `json:"group,omitempty"`
}

const (
	walName      = "wal.jsonl"
	snapshotName = "snapshot.jsonl"
)

type wal struct {
	dir string
	f   *os.File

	mu      sync.Mutex // guards pending, queued
	pending []byte     // encoded lines not yet written
	queued  uint64     // lines ever enqueued

	wmu     sync.Mutex // serialises writes; guards written, spare, err
	written uint64     // lines ever written
	spare   []byte
	err     error // sticky: after a failed write nothing is durable
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

// enqueue encodes one request's operations as one line and queues it,
// returning the sequence number to wait for. The caller holds the server's
// lock: ops may share maps with the live state.
func (w *wal) enqueue(ops []walOp) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.pending)
	b, err := appendWalLine(w.pending, ops)
	if err != nil {
		w.pending = b[:n]
		return 0, err
	}
	w.pending = b
	w.queued++
	return w.queued, nil
}

// wait returns once line seq (and every line before it) has been written.
func (w *wal) wait(seq uint64) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.written >= seq {
		return nil
	}
	w.mu.Lock()
	buf, upto := w.pending, w.queued
	w.pending = w.spare[:0]
	w.mu.Unlock()
	if _, err := w.f.Write(buf); err != nil {
		w.err = fmt.Errorf("sandbox wal write: %w", err)
		return w.err
	}
	w.written = upto
	if cap(buf) <= 4<<20 {
		w.spare = buf
	} else {
		w.spare = nil
	}
	return nil
}

// appendWalLine appends ops as a JSON array and a newline. The hot
// operation, put, is written by hand (json.Encoder's reflection and
// sorted map keys were most of the log's cost); the rest use
// encoding/json. Replay reads it all with encoding/json.
func appendWalLine(dst []byte, ops []walOp) ([]byte, error) {
	dst = append(dst, '[')
	for i := range ops {
		if i > 0 {
			dst = append(dst, ',')
		}
		op := &ops[i]
		if op.Op != "put" || op.Obj == nil || op.Prop != nil {
			b, err := json.Marshal(op)
			if err != nil {
				return dst, fmt.Errorf("sandbox wal encode %s: %w", op.Op, err)
			}
			dst = append(dst, b...)
			continue
		}
		o := op.Obj
		dst = append(dst, `{"op":"put","t":`...)
		dst = appendJSONString(dst, op.T)
		dst = append(dst, `,"o":{"id":`...)
		dst = strconv.AppendUint(dst, o.ID, 10)
		dst = append(dst, `,"p":{`...)
		first := true
		for k, v := range o.Props {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendKey(dst, k)
			dst = appendJSONString(dst, v)
		}
		dst = append(dst, `},"c":`...)
		dst = strconv.AppendInt(dst, o.Created, 10)
		dst = append(dst, `,"u":`...)
		dst = strconv.AppendInt(dst, o.Updated, 10)
		if o.Archived {
			dst = append(dst, `,"a":true`...)
		}
		if o.ArchivedAt != 0 {
			dst = append(dst, `,"aa":`...)
			dst = strconv.AppendInt(dst, o.ArchivedAt, 10)
		}
		dst = append(dst, "}}"...)
	}
	return append(dst, ']', '\n'), nil
}

// compact writes st as a snapshot and truncates the log.
func (w *wal) compact(st *store) error {
	// Lines still queued are written first, so that the log never holds
	// a line older than the snapshot after the truncate below.
	w.mu.Lock()
	queued := w.queued
	w.mu.Unlock()
	if err := w.wait(queued); err != nil {
		return err
	}
	tmp := filepath.Join(w.dir, snapshotName+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sandbox snapshot: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	batch := make([]walOp, 0, 256)
	var line []byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var err error
		if line, err = appendWalLine(line[:0], batch); err != nil {
			return err
		}
		batch = batch[:0]
		_, err = bw.Write(line)
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
