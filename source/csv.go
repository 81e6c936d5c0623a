package source

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// errLineTooLong ends a CSV input whose line runs past maxLine bytes: the
// whole rest of the file would otherwise become one cell in memory.
var errLineTooLong = fmt.Errorf("line longer than %d MiB (not a line-oriented text file?)", maxLine>>20)

// lineLimitReader fails once more than maxLine bytes pass without a newline,
// when on.
type lineLimitReader struct {
	r   io.Reader
	on  bool
	run int
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if !l.on {
		return n, err
	}
	chunk := p[:n]
	if last := bytes.LastIndexByte(chunk, '\n'); last >= 0 {
		if l.run+bytes.IndexByte(chunk, '\n') > maxLine {
			return n, errLineTooLong
		}
		l.run = n - last - 1
	} else {
		l.run += n
	}
	if l.run > maxLine {
		return n, errLineTooLong
	}
	return n, err
}

// sniffDelimiter picks the most frequent of , ; tab | outside quotes in the
// header line; comma when none occurs.
func sniffDelimiter(head []byte) rune {
	counts := map[rune]int{}
	inQuote := false
	for _, c := range head {
		if c == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if c == '\n' {
			break
		}
		switch c {
		case ',', ';', '\t', '|':
			counts[rune(c)]++
		}
	}
	best, n := ',', 0
	for _, d := range []rune{',', ';', '\t', '|'} {
		if counts[d] > n {
			best, n = d, counts[d]
		}
	}
	return best
}

// csvCore reads header and rows of a delimited file with encoding/csv in its
// fast mode (ReuseRecord); the readers built on it copy what they keep.
type csvCore struct {
	in      *input
	src     rawSource
	cr      *csv.Reader
	header  []string
	lastOff int64
	lastErr int64
	arena   recordArena
	// validEnd is the offset up to which the input is known to be valid
	// UTF-8, checked in the read buffer ahead of encoding/csv; rowValid
	// says that the row last read ends there or before, so that its fields
	// need no check of their own (checking each field cost a quarter of
	// the reader's time).
	validEnd int64
	rowValid bool
}

func newCSVCore(in *input, src rawSource, delim rune) (*csvCore, error) {
	if delim == 0 {
		head, _ := in.br.Peek(bufSize)
		delim = sniffDelimiter(head)
	}
	in.lim.on = true
	cr := csv.NewReader(in.br) // a *bufio.Reader: encoding/csv reads it directly
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	c := &csvCore{in: in, src: src, cr: cr, lastErr: -1}
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: no header row", in.name, ErrEmptyInput)
		}
		return nil, fmt.Errorf("%s:1: header row: %w", in.name, err)
	}
	c.header = make([]string, len(header))
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("%s:1: header is not valid UTF-8: set the encoding (windows-1252, latin1, utf-16)", in.name)
		}
		c.header[i] = h
	}
	c.lastOff = cr.InputOffset()
	return c, nil
}

// read returns the next row's fields (valid until the next call), its line
// and start offset, a row-level parse error, or an error that ends the input.
func (c *csvCore) read() (fields []string, line int, off int64, rowErr error, err error) {
	start := c.lastOff
	if start >= c.validEnd {
		c.validateAhead(start)
	}
	fields, err = c.cr.Read()
	c.lastOff = c.cr.InputOffset()
	c.rowValid = err == nil && c.lastOff <= c.validEnd
	off = c.in.offset(start)
	if err == nil {
		line, _ = c.cr.FieldPos(0)
		return fields, line, off, nil, nil
	}
	if errors.Is(err, io.EOF) {
		return nil, 0, 0, nil, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) && !errors.Is(err, errLineTooLong) {
		if c.lastOff == c.lastErr {
			return nil, 0, 0, nil, fmt.Errorf("%s:%d: %w", c.in.name, pe.StartLine, err)
		}
		c.lastErr = c.lastOff
		return fields, pe.StartLine, off, &RowError{File: c.in.name, Line: pe.StartLine, Msg: pe.Err.Error()}, nil
	}
	line, _ = c.cr.FieldPos(0)
	if pe != nil {
		line = pe.Line
	}
	return nil, 0, 0, nil, fmt.Errorf("%s:%d: %w", c.in.name, line, err)
}

// validateAhead checks the bytes already in the read buffer, which start
// at offset start (encoding/csv reads the buffer directly and has consumed
// exactly up to the end of the last row), and moves validEnd to the end of
// their longest valid UTF-8 prefix. Nothing is read: a stream is never
// waited on. A row's fields are its bytes less some ASCII (quotes, the \r
// of \r\n), so a row that ends by validEnd has valid fields; a row that
// runs past it (an invalid byte, the end of the buffer) is checked field
// by field.
func (c *csvCore) validateAhead(start int64) {
	buf, _ := c.in.br.Peek(c.in.br.Buffered())
	c.validEnd = start + int64(validUTF8Prefix(buf))
}

// validUTF8Prefix is the length of the longest prefix of b that is valid
// UTF-8 (as utf8.Valid judges it), ASCII eight bytes at a time.
func validUTF8Prefix(b []byte) int {
	i := 0
	for i < len(b) {
		for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		if i == len(b) {
			break
		}
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return i
}

// rowProblem checks the shape and text of the row read last.
func (c *csvCore) rowProblem(fields []string, line int) error {
	if len(fields) != len(c.header) {
		return &RowError{File: c.in.name, Line: line, Msg: fmt.Sprintf("row has %d fields, the header has %d", len(fields), len(c.header))}
	}
	if c.rowValid {
		return nil
	}
	for i, f := range fields {
		if !utf8.ValidString(f) {
			return &RowError{File: c.in.name, Line: line, Msg: fmt.Sprintf("column %q is not valid UTF-8: set the encoding (windows-1252, latin1, utf-16)", c.header[i])}
		}
	}
	return nil
}

func (c *csvCore) close() error { return c.src.Close() }

// csvReader yields each row of a CSV file by header name.
type csvReader struct {
	c *csvCore
}

func newCSVReader(in *input, src rawSource, opts Options) (Reader, error) {
	c, err := newCSVCore(in, src, opts.Delimiter)
	if err != nil {
		return nil, err
	}
	stopRecording(src)
	return &csvReader{c: c}, nil
}

func (r *csvReader) Format() string { return FormatCSV }
func (r *csvReader) Close() error   { return r.c.close() }

func (r *csvReader) Next() (*Record, error) {
	fields, line, off, rowErr, err := r.c.read()
	if err != nil {
		return nil, err
	}
	rec := r.c.arena.record()
	rec.File, rec.Line, rec.Offset, rec.Names = r.c.in.name, line, off, r.c.header
	vals := r.c.arena.values(len(fields))
	copy(vals, fields)
	rec.Values = vals
	if rowErr != nil {
		rec.Err = rowErr
	} else {
		rec.Err = r.c.rowProblem(fields, line)
	}
	return rec, nil
}
