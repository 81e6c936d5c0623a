package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting so a hostile line cannot exhaust the stack.
const maxJSONDepth = 200

// jsonlReader reads one JSON object per line; nested fields are named by
// their path, "a.b.c", array elements by index, "items.0.name".
type jsonlReader struct {
	in    *input
	src   rawSource
	lr    *lineReader
	names []string // last shape, shared by records of the same shape
	arena recordArena
	// scratch, reused per line
	n, v []string
}

func newJSONLReader(in *input, src rawSource) (Reader, error) {
	stopRecording(src)
	return &jsonlReader{in: in, src: src, lr: newLineReader(in.br)}, nil
}

func (r *jsonlReader) Format() string { return FormatJSONL }
func (r *jsonlReader) Close() error   { return r.src.Close() }

func (r *jsonlReader) Next() (*Record, error) {
	for {
		line, tooLong, err := r.lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%s:%d: %w", r.in.name, r.lr.line+1, err)
		}
		if !tooLong && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec := r.arena.record()
		rec.File, rec.Line, rec.Offset = r.in.name, r.lr.line, r.in.offset(r.lr.start)
		switch {
		case tooLong:
			rec.Err = &RowError{File: r.in.name, Line: r.lr.line, Msg: fmt.Sprintf("line longer than %d MiB", maxLine>>20)}
			return rec, nil
		case !utf8.Valid(line):
			rec.Err = &RowError{File: r.in.name, Line: r.lr.line, Msg: "line is not valid UTF-8: set the encoding"}
			return rec, nil
		}
		r.n, r.v = r.n[:0], r.v[:0]
		if err := r.flatten(line); err != nil {
			rec.Err = &RowError{File: r.in.name, Line: r.lr.line, Msg: err.Error()}
		}
		if !slices.Equal(r.names, r.n) {
			r.names = slices.Clip(slices.Clone(r.n))
		}
		rec.Names = r.names
		vals := r.arena.values(len(r.v))
		copy(vals, r.v)
		rec.Values = vals
		return rec, nil
	}
}

func (r *jsonlReader) flatten(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("line is not a JSON object")
	}
	if err := r.object(dec, "", 1); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad JSON: more than one value on the line")
	}
	return nil
}

// object reads the members of an object whose "{" was consumed.
func (r *jsonlReader) object(dec *json.Decoder, prefix string, depth int) error {
	empty := true
	for dec.More() {
		empty = false
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("bad JSON: %v", err)
		}
		key, _ := tok.(string)
		if err := r.value(dec, join(prefix, key), depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if empty && prefix != "" {
		r.n, r.v = append(r.n, prefix), append(r.v, "")
	}
	return nil
}

func (r *jsonlReader) value(dec *json.Decoder, name string, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return r.object(dec, name, depth+1)
		}
		i := 0
		for dec.More() {
			if err := r.value(dec, join(name, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
			i++
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("bad JSON: %v", err)
		}
		if i == 0 {
			r.n, r.v = append(r.n, name), append(r.v, "")
		}
		return nil
	case string:
		r.n, r.v = append(r.n, name), append(r.v, t)
	case json.Number:
		r.n, r.v = append(r.n, name), append(r.v, t.String())
	case bool:
		r.n, r.v = append(r.n, name), append(r.v, strconv.FormatBool(t))
	case nil:
		r.n, r.v = append(r.n, name), append(r.v, "")
	}
	return nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
