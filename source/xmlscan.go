package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// xmlScanner is a small streaming XML tokenizer for attribute-only files such
// as SMS Backup & Restore's. encoding/xml reads a byte at a time through an
// interface and decodes every attribute; this reads the buffer directly,
// decodes only the attributes the caller keeps, and discards the rest (MMS
// `data` is base64 media and makes such files huge). It also joins UTF-16
// surrogate pairs written as two character references (&#55357;&#56397;),
// which encoding/xml turns into two U+FFFD without an error.
//
// It checks what a reader needs to trust the data (tags balance, quotes
// close, entities are known, kept values are UTF-8) and skips comments,
// processing instructions, DOCTYPE, CDATA and text.
type xmlScanner struct {
	br    *bufio.Reader
	line  int   // current line, 1-based
	off   int64 // bytes consumed
	stack []string
	buf   []byte
	// keep says whether an attribute of an element is wanted.
	keep func(elem string, attr []byte) bool
}

type xmlAttr struct{ name, value string }

type xmlEvent struct {
	start, end bool
	name       string
	attrs      []xmlAttr
	line       int
	off        int64
}

// maxXMLValue bounds one kept attribute value.
const maxXMLValue = 64 << 20

func newXMLScanner(br *bufio.Reader, keep func(elem string, attr []byte) bool) *xmlScanner {
	return &xmlScanner{br: br, line: 1, keep: keep}
}

func (s *xmlScanner) errorf(format string, args ...any) error {
	return &xmlSyntaxError{Line: s.line, Msg: fmt.Sprintf(format, args...)}
}

// xmlSyntaxError is a malformed-XML error at a line.
type xmlSyntaxError struct {
	Line int
	Msg  string
}

func (e *xmlSyntaxError) Error() string { return "XML syntax error: " + e.Msg }

func (s *xmlScanner) consumed(b []byte) {
	s.off += int64(len(b))
	s.line += bytes.Count(b, []byte{'\n'})
}

func (s *xmlScanner) readByte() (byte, error) {
	c, err := s.br.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, s.errorf("unexpected EOF")
		}
		return 0, err
	}
	s.off++
	if c == '\n' {
		s.line++
	}
	return c, nil
}

// skipPast discards input up to and including the terminator.
func (s *xmlScanner) skipPast(term string) error {
	last := term[len(term)-1]
	var tail []byte
	for {
		chunk, err := s.br.ReadSlice(last)
		s.consumed(chunk)
		if err == nil {
			tail = append(tail, chunk...)
			if bytes.HasSuffix(tail, []byte(term)) {
				return nil
			}
			if len(tail) > len(term) {
				tail = tail[len(tail)-len(term):]
			}
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			tail = append(tail[:0], chunk[max(0, len(chunk)-len(term)):]...)
			continue
		}
		if errors.Is(err, io.EOF) {
			return s.errorf("unexpected EOF")
		}
		return err
	}
}

// next returns the next start or end element; io.EOF at the end of a
// well-formed document.
func (s *xmlScanner) next() (xmlEvent, error) {
	for {
		chunk, err := s.br.ReadSlice('<')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.consumed(chunk)
			continue
		}
		if err != nil {
			s.consumed(chunk)
			if errors.Is(err, io.EOF) {
				if len(s.stack) > 0 {
					return xmlEvent{}, s.errorf("unexpected EOF: <%s> not closed", s.stack[len(s.stack)-1])
				}
				return xmlEvent{}, io.EOF
			}
			return xmlEvent{}, err
		}
		ev := xmlEvent{off: s.off + int64(len(chunk)) - 1}
		s.consumed(chunk)
		ev.line = s.line
		c, err := s.readByte()
		if err != nil {
			return xmlEvent{}, err
		}
		switch c {
		case '?':
			if err := s.skipPast("?>"); err != nil {
				return xmlEvent{}, err
			}
			continue
		case '!':
			head, _ := s.br.Peek(7)
			switch {
			case bytes.HasPrefix(head, []byte("--")):
				err = s.skipPast("-->")
			case bytes.HasPrefix(head, []byte("[CDATA[")):
				err = s.skipPast("]]>")
			default:
				err = s.skipPast(">")
			}
			if err != nil {
				return xmlEvent{}, err
			}
			continue
		case '/':
			name, c, err := s.readName(0)
			if err != nil {
				return xmlEvent{}, err
			}
			for c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				if c, err = s.readByte(); err != nil {
					return xmlEvent{}, err
				}
			}
			if c != '>' {
				return xmlEvent{}, s.errorf("invalid characters between </%s and >", name)
			}
			if len(s.stack) == 0 || s.stack[len(s.stack)-1] != string(name) {
				return xmlEvent{}, s.errorf("unexpected end element </%s>", name)
			}
			ev.end, ev.name = true, s.stack[len(s.stack)-1]
			s.stack = s.stack[:len(s.stack)-1]
			return ev, nil
		}
		return s.startTag(ev, c)
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80
}

// readName reads a name starting with first (0: read it) and returns the
// byte that ended it.
func (s *xmlScanner) readName(first byte) ([]byte, byte, error) {
	name := s.buf[:0]
	c := first
	var err error
	if c == 0 {
		if c, err = s.readByte(); err != nil {
			return nil, 0, err
		}
	}
	for isNameByte(c) {
		name = append(name, c)
		if c, err = s.readByte(); err != nil {
			return nil, 0, err
		}
	}
	s.buf = name[:0]
	if len(name) == 0 {
		return nil, 0, s.errorf("expected a name, found %q", c)
	}
	return name, c, nil
}

func internElem(b []byte) string {
	switch string(b) {
	case "smses":
		return "smses"
	case "sms":
		return "sms"
	case "mms":
		return "mms"
	case "parts":
		return "parts"
	case "part":
		return "part"
	case "addrs":
		return "addrs"
	case "addr":
		return "addr"
	}
	return string(b)
}

func (s *xmlScanner) startTag(ev xmlEvent, first byte) (xmlEvent, error) {
	nb, c, err := s.readName(first)
	if err != nil {
		return xmlEvent{}, err
	}
	ev.start, ev.name = true, internElem(nb)
	for {
		for c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if c, err = s.readByte(); err != nil {
				return xmlEvent{}, err
			}
		}
		switch c {
		case '>':
			s.stack = append(s.stack, ev.name)
			return ev, nil
		case '/':
			if c, err = s.readByte(); err != nil {
				return xmlEvent{}, err
			}
			if c != '>' {
				return xmlEvent{}, s.errorf("expected /> in element <%s>", ev.name)
			}
			// A self-closing element is a start and an end; the caller
			// sees the start and the stack never holds it.
			ev.end = true
			return ev, nil
		}
		an, c2, err := s.readName(c)
		if err != nil {
			return xmlEvent{}, err
		}
		keep := s.keep(ev.name, an)
		var name string
		if keep {
			name = string(an)
		}
		c = c2
		for c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if c, err = s.readByte(); err != nil {
				return xmlEvent{}, err
			}
		}
		if c != '=' {
			return xmlEvent{}, s.errorf("attribute %s of <%s> has no value", an, ev.name)
		}
		if c, err = s.readByte(); err != nil {
			return xmlEvent{}, err
		}
		for c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if c, err = s.readByte(); err != nil {
				return xmlEvent{}, err
			}
		}
		if c != '"' && c != '\'' {
			return xmlEvent{}, s.errorf("unquoted attribute value in <%s>", ev.name)
		}
		raw, err := s.readValue(c, keep)
		if err != nil {
			return xmlEvent{}, err
		}
		if keep {
			v, err := decodeXMLValue(raw)
			if err != nil {
				return xmlEvent{}, s.errorf("%v", err)
			}
			ev.attrs = append(ev.attrs, xmlAttr{name: name, value: v})
		}
		if c, err = s.readByte(); err != nil {
			return xmlEvent{}, err
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '/' && c != '>' {
			return xmlEvent{}, s.errorf("expected space after an attribute of <%s>", ev.name)
		}
	}
}

// readValue reads up to the closing quote; the result is valid until the
// next read. Unkept values are skipped without copying.
func (s *xmlScanner) readValue(quote byte, keep bool) ([]byte, error) {
	chunk, err := s.br.ReadSlice(quote)
	s.consumed(chunk)
	if err == nil {
		return chunk[:len(chunk)-1], nil
	}
	var acc []byte
	if keep {
		acc = append(s.buf[:0], chunk...)
	}
	for errors.Is(err, bufio.ErrBufferFull) {
		chunk, err = s.br.ReadSlice(quote)
		s.consumed(chunk)
		if keep {
			if len(acc)+len(chunk) > maxXMLValue {
				return nil, s.errorf("attribute value longer than %d MiB", maxXMLValue>>20)
			}
			acc = append(acc, chunk...)
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, s.errorf("unexpected EOF in an attribute value")
		}
		return nil, err
	}
	if keep {
		s.buf = acc[:0]
		return acc[:len(acc)-1], nil
	}
	return nil, nil
}

// decodeXMLValue resolves entities and character references, joining
// surrogate pairs, and checks that the result is UTF-8 of XML characters.
func decodeXMLValue(raw []byte) (string, error) {
	if !utf8.Valid(raw) {
		return "", errors.New("invalid UTF-8")
	}
	i := bytes.IndexByte(raw, '&')
	if i < 0 {
		for _, c := range raw {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return "", fmt.Errorf("illegal character code U+%04X", c)
			}
		}
		return string(raw), nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	b.Write(raw[:i])
	pendingHigh := rune(-1)
	flushHigh := func() {
		if pendingHigh >= 0 {
			b.WriteRune(utf8.RuneError)
			pendingHigh = -1
		}
	}
	for i < len(raw) {
		c := raw[i]
		if c != '&' {
			flushHigh()
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return "", fmt.Errorf("illegal character code U+%04X", c)
			}
			b.WriteByte(c)
			i++
			continue
		}
		semi := bytes.IndexByte(raw[i:], ';')
		if semi < 0 {
			return "", fmt.Errorf("invalid character entity %s (no semicolon)", truncate(raw[i:], 12))
		}
		ent := raw[i+1 : i+semi]
		i += semi + 1
		if len(ent) > 1 && ent[0] == '#' {
			var n uint64
			var err error
			if ent[1] == 'x' || ent[1] == 'X' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || n > utf8.MaxRune {
				return "", fmt.Errorf("invalid character entity &%s;", ent)
			}
			r := rune(n)
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				flushHigh()
				pendingHigh = r
				continue
			case r >= 0xDC00 && r <= 0xDFFF:
				if pendingHigh >= 0 {
					b.WriteRune(0x10000 + (pendingHigh-0xD800)<<10 + (r - 0xDC00))
					pendingHigh = -1
				} else {
					b.WriteRune(utf8.RuneError)
				}
				continue
			case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
				return "", fmt.Errorf("illegal character code U+%04X", r)
			}
			flushHigh()
			b.WriteRune(r)
			continue
		}
		flushHigh()
		switch string(ent) {
		case "amp":
			b.WriteByte('&')
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			return "", fmt.Errorf("invalid character entity &%s;", truncate(ent, 20))
		}
	}
	flushHigh()
	return b.String(), nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
