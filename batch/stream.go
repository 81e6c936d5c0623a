package batch

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// defaultChunkRows is how many input rows update, associate and pin (CSV)
// hold at a time: each chunk is read, resolved, filtered and sent before
// the next is read, so memory does not grow with the input.
const defaultChunkRows = 5000

// rows of one chunk, from RunOptions.chunkRows (tests set it small).
func (o *RunOptions) chunk() int {
	if o.chunkRows > 0 {
		return o.chunkRows
	}
	return defaultChunkRows
}

// rowParser checks one CSV record (at line) and turns it into a row.
type rowParser func(rec []string, line int) (updateRow, error)

// csvRows reads an input CSV a chunk of rows at a time.
type csvRows struct {
	path  string
	f     *os.File
	r     *csv.Reader
	parse rowParser
}

// openRows opens path and reads its header with header, which returns
// the parser of the rows that follow.
func openRows(path string, header func(head []string) (rowParser, error)) (*csvRows, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s:1: reading the header: %w", path, err)
	}
	parse, err := header(head)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &csvRows{path: path, f: f, r: r, parse: parse}, nil
}

// next returns up to n rows; none at the end of the input.
func (c *csvRows) next(n int) ([]updateRow, error) {
	var rows []updateRow
	for len(rows) < n {
		rec, err := c.r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := c.r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.path, err)
		}
		u, err := c.parse(rec, line)
		if err != nil {
			return nil, err
		}
		rows = append(rows, u)
	}
	return rows, nil
}

func (c *csvRows) Close() error { return c.f.Close() }

// scanRows reads the whole input once, row by row, holding none of it,
// and calls each (when not nil) with every row. Update, associate and pin
// check their input whole this way before sending anything, so a bad row
// anywhere stops the run before its first write, as it did when the input
// was read into memory.
func scanRows(path string, header func(head []string) (rowParser, error), each func(updateRow)) (int64, error) {
	in, err := openRows(path, header)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	var n int64
	for {
		rows, err := in.next(defaultChunkRows)
		if err != nil || len(rows) == 0 {
			return n, err
		}
		n += int64(len(rows))
		if each != nil {
			for _, r := range rows {
				each(r)
			}
		}
	}
}

// chunkFunc reads, resolves and filters the next chunk of an input: the
// items to send, the ledger rows of the chunk's rows that are not sent
// (invalid, unresolved), and more=false after the last chunk.
type chunkFunc func(ctx context.Context) (items []opItem, bad []LedgerRow, more bool, err error)

// streamItems runs an operation over an input one chunk at a time: for
// each chunk, its unsent rows go to the ledger and its items through
// runItemsIn; the run stops between chunks when the runner says stop
// (interrupt, --max-duration, --max-errors, a fatal error). With Plan it
// counts (and, with plan, describes) every chunk's items and writes
// nothing. A chunk that cannot be read or resolved ends the run: before
// the ledger is opened for the first chunk, after it for the others.
func (ir *itemRunner) streamItems(ctx context.Context, ledger string, now func() time.Time, next chunkFunc, plan func([]opItem) error, op operation) (*Summary, error) {
	items, bad, more, err := next(ctx)
	if err != nil {
		return nil, err
	}
	if ir.cfg.Plan {
		for {
			ir.c.planned.Add(int64(len(items)))
			if plan != nil {
				if err := plan(items); err != nil {
					return ir.summary(), err
				}
			}
			if !more {
				return ir.summary(), nil
			}
			if items, _, more, err = next(ctx); err != nil {
				return nil, err
			}
		}
	}
	closeLedger, err := ir.openLedger(ledger, now)
	if err != nil {
		return nil, err
	}
	defer closeLedger()
	return ir.streamOpen(ctx, items, bad, more, next, op)
}

// openLedger opens the run's ledger, cutting (with a warning) a torn last
// line an interrupted run left.
func (r *runner) openLedger(path string, now func() time.Time) (closeLedger func(), err error) {
	led, torn, err := OpenLedger(path, now)
	if err != nil {
		return nil, err
	}
	if torn != "" {
		r.log.Warn("ledger: cut a torn last line left by an interrupted run", "ledger", path, "bytes", len(torn))
	}
	r.led = led
	return func() { led.Close() }, nil
}

// streamOpen is streamItems once the ledger is open and the first chunk
// (items, bad, more) read.
func (ir *itemRunner) streamOpen(ctx context.Context, items []opItem, bad []LedgerRow, more bool, next chunkFunc, op operation) (*Summary, error) {
	smp := startSampler(ir.cfg.SampleEvery, ir.sample)
	// One deadline for the whole run, not one a chunk.
	readCtx, cancel := ir.readContext(ctx)
	defer cancel()
	for {
		ir.append(bad...)
		if err := ir.runItemsIn(ctx, readCtx, items, op); err != nil || !more {
			return ir.end(err, ir.warnings, smp)
		}
		if reason := ir.shouldStop(readCtx, readCtx); reason != "" {
			ir.stop(reason)
			return ir.end(nil, ir.warnings, smp)
		}
		var err error
		if items, bad, more, err = next(ctx); err != nil {
			return ir.end(err, ir.warnings, smp)
		}
	}
}
