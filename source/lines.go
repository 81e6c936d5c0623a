package source

import (
	"bufio"
	"errors"
	"io"
)

// lineReader yields the lines of a text input with their numbers and byte
// offsets, each at most maxLine bytes; longer lines are reported and skipped.
type lineReader struct {
	br    *bufio.Reader
	line  int   // number of the line last returned, 1-based
	start int64 // stream offset where the last returned line starts
	pos   int64 // stream offset after the last returned line
	buf   []byte
	max   int
}

func newLineReader(br *bufio.Reader) *lineReader {
	return &lineReader{br: br, max: maxLine}
}

// next returns the next line without its "\n" or "\r\n"; the slice is valid
// until the next call. tooLong is set (and b empty) for a line over the limit.
func (l *lineReader) next() (b []byte, tooLong bool, err error) {
	l.start = l.pos
	frag, err := l.br.ReadSlice('\n')
	if err == nil || (errors.Is(err, io.EOF) && len(frag) > 0) {
		l.pos += int64(len(frag))
		l.line++
		return trimEOL(frag), false, nil
	}
	if errors.Is(err, io.EOF) {
		return nil, false, io.EOF
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, false, err
	}
	l.buf = append(l.buf[:0], frag...)
	l.pos += int64(len(frag))
	for {
		frag, err = l.br.ReadSlice('\n')
		l.pos += int64(len(frag))
		if !tooLong {
			if len(l.buf)+len(frag) > l.max {
				tooLong = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, frag...)
			}
		}
		if err == nil || errors.Is(err, io.EOF) {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
	}
	l.line++
	if tooLong {
		if cap(l.buf) > 2*bufSize {
			l.buf = nil // do not keep a huge buffer for the rest of the file
		}
		return nil, true, nil
	}
	return trimEOL(l.buf), false, nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
