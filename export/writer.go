package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/commlog/commlog/crm"
)

// Format is an output format.
type Format string

// The output formats.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// ParseFormat reads a --format value.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("export: unknown format %q: want csv or jsonl", s)
}

// FormatOf guesses the format from a file name's extension: .csv is CSV,
// .jsonl and .ndjson are JSONL; anything else is "".
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV
	case ".jsonl", ".ndjson":
		return JSONL
	}
	return ""
}

// rowWriter writes one record per call, in the plan's shape.
type rowWriter interface {
	write(o *crm.Object) error
	// flush pushes buffered rows to the underlying writer.
	flush() error
}

func newRowWriter(f Format, w io.Writer, p *plan) (rowWriter, error) {
	switch f {
	case CSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(p.header()); err != nil {
			return nil, err
		}
		return &csvWriter{w: cw, p: p, rec: make([]string, 0, len(p.header()))}, nil
	case JSONL:
		bw := bufio.NewWriterSize(w, 64<<10)
		return &jsonlWriter{bw: bw, enc: json.NewEncoder(bw), p: p}, nil
	}
	return nil, fmt.Errorf("export: unknown format %q", f)
}

// csvWriter quotes cells holding commas, quotes or newlines (RFC 4180).
type csvWriter struct {
	w   *csv.Writer
	p   *plan
	rec []string
}

func (c *csvWriter) write(o *crm.Object) error {
	r := append(c.rec[:0], o.ID)
	for _, name := range c.p.props {
		r = append(r, c.p.value(o, name))
	}
	archivedAt := ""
	if o.Archived && o.ArchivedAt != nil {
		archivedAt = formatTime(*o.ArchivedAt)
	}
	r = append(r, fmt.Sprint(o.Archived), archivedAt)
	for _, t := range c.p.assocs {
		r = append(r, strings.Join(associated(o, t), ";"))
	}
	c.rec = r
	return c.w.Write(r)
}

func (c *csvWriter) flush() error {
	c.w.Flush()
	return c.w.Error()
}

// jsonlRow is one JSONL line. Properties marshal with sorted keys; a
// property without a value is null, as HubSpot sends it.
type jsonlRow struct {
	ID           string              `json:"id"`
	Properties   map[string]*string  `json:"properties"`
	Archived     bool                `json:"archived"`
	ArchivedAt   *string             `json:"archived_at"`
	Associations map[string][]string `json:"associations,omitempty"`
}

type jsonlWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
	p   *plan
}

func (j *jsonlWriter) write(o *crm.Object) error {
	row := jsonlRow{ID: o.ID, Properties: make(map[string]*string, len(j.p.props)), Archived: o.Archived}
	for _, name := range j.p.props {
		if v := j.p.value(o, name); v != "" {
			row.Properties[name] = &v
		} else {
			row.Properties[name] = nil
		}
	}
	if o.Archived && o.ArchivedAt != nil {
		s := formatTime(*o.ArchivedAt)
		row.ArchivedAt = &s
	}
	if len(j.p.assocs) > 0 {
		row.Associations = make(map[string][]string, len(j.p.assocs))
		for _, t := range j.p.assocs {
			ids := associated(o, t)
			if ids == nil {
				ids = []string{}
			}
			row.Associations[t] = ids
		}
	}
	return j.enc.Encode(row)
}

func (j *jsonlWriter) flush() error { return j.bw.Flush() }

// sink is where rows go: a temporary file renamed into place by commit, or
// a stream (stdout) that is never closed here.
type sink struct {
	w      io.Writer
	tmp    *os.File
	target string
}

// openSink opens path for writing through a temporary file in the same
// directory; path "" or "-" writes to stdout.
func openSink(path string, stdout io.Writer) (*sink, error) {
	if path == "" || path == "-" {
		if stdout == nil {
			return nil, errors.New("export: no output file and no stdout writer")
		}
		return &sink{w: stdout}, nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("export: creating the output file: %w", err)
	}
	return &sink{w: tmp, tmp: tmp, target: path}, nil
}

// commit syncs the temporary file and renames it over the target.
func (s *sink) commit() error {
	if s.tmp == nil {
		return nil
	}
	name := s.tmp.Name()
	err := s.tmp.Sync()
	if cerr := s.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, s.target)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("export: writing %s: %w", s.target, err)
	}
	syncDir(filepath.Dir(s.target))
	s.tmp = nil
	return nil
}

// abort drops the temporary file; the target is left as it was.
func (s *sink) abort() {
	if s.tmp == nil {
		return
	}
	name := s.tmp.Name()
	s.tmp.Close()
	os.Remove(name)
	s.tmp = nil
}

// syncDir makes a rename durable. Not every platform can fsync a
// directory, so failures are ignored: the rename itself already happened.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
