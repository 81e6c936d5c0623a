package source

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// surrogateFixer rewrites UTF-16 surrogate pairs written as two character
// references (&#55357;&#56397;) into one reference to the real code point,
// which encoding/xml would otherwise turn into two U+FFFD without an error.
// The rewrite keeps the length (the number is zero-padded), so line numbers
// and byte offsets stay those of the file.
type surrogateFixer struct {
	r   io.Reader
	buf []byte
	// buf[start:hold] is ready to hand out; buf[hold:end] is a reference
	// cut by the end of the last read, kept until more bytes arrive.
	start, hold, end int
	err              error
}

func newSurrogateFixer(r io.Reader) *surrogateFixer {
	return &surrogateFixer{r: r, buf: make([]byte, bufSize)}
}

func (f *surrogateFixer) Read(p []byte) (int, error) {
	for f.start == f.hold {
		if f.err != nil {
			return 0, f.err
		}
		n := copy(f.buf, f.buf[f.hold:f.end])
		f.start, f.hold, f.end = 0, 0, n
		m, err := f.r.Read(f.buf[f.end:])
		f.end += m
		if err != nil {
			f.err = err
		}
		f.hold = fixSurrogates(f.buf[:f.end], f.err != nil)
	}
	n := copy(p, f.buf[f.start:f.hold])
	f.start += n
	return n, nil
}

// fixSurrogates rewrites complete surrogate-pair references in data in place
// and returns how much of data is final: a reference cut by the end of data
// is held back unless eof.
func fixSurrogates(data []byte, eof bool) int {
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '&')
		if j < 0 {
			return len(data)
		}
		i += j
		hi, end1, st := charRef(data, i)
		if st == refMore && !eof {
			return i
		}
		if st != refOK || hi < 0xD800 || hi > 0xDBFF {
			i++
			continue
		}
		lo, end2, st := charRef(data, end1)
		if st == refMore && !eof {
			return i
		}
		if st != refOK || lo < 0xDC00 || lo > 0xDFFF {
			i++
			continue
		}
		cp := 0x10000 + (hi-0xD800)<<10 + (lo - 0xDC00)
		width := end2 - i - 3 // "&#" + digits + ";"
		digits := strconv.Itoa(cp)
		k := i
		data[k], data[k+1] = '&', '#'
		k += 2
		for n := width - len(digits); n > 0; n-- {
			data[k] = '0'
			k++
		}
		k += copy(data[k:], digits)
		data[k] = ';'
		i = end2
	}
	return len(data)
}

const (
	refNo = iota
	refOK
	refMore
)

// charRef parses "&#NNN;" or "&#xHHH;" at data[i].
func charRef(data []byte, i int) (v, end, status int) {
	const maxDigits = 10
	k := i
	for _, c := range []byte("&#") {
		if k >= len(data) {
			return 0, 0, refMore
		}
		if data[k] != c {
			return 0, 0, refNo
		}
		k++
	}
	base := 10
	if k >= len(data) {
		return 0, 0, refMore
	}
	if data[k] == 'x' || data[k] == 'X' {
		base = 16
		k++
	}
	start := k
	for ; k < len(data) && k-start <= maxDigits; k++ {
		c := data[k]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case base == 16 && c|0x20 >= 'a' && c|0x20 <= 'f':
			d = int(c|0x20-'a') + 10
		case c == ';':
			if k == start {
				return 0, 0, refNo
			}
			return v, k + 1, refOK
		default:
			return 0, 0, refNo
		}
		v = v*base + d
	}
	if k >= len(data) && k-start <= maxDigits {
		return 0, 0, refMore
	}
	return 0, 0, refNo
}

// Raw columns of an sms-xml record, the attributes worth keeping of <sms>
// and <mms> ("element" says which).
func smsRawNames() []string {
	return []string{"element", "address", "contact_name", "date", "date_sent", "type", "msg_box", "m_type",
		"read", "status", "sub_id", "subject", "body", "service_center", "m_id"}
}

const nSMSRaw = 15

// smsReader reads an "SMS Backup & Restore" XML file token by token.
type smsReader struct {
	in       *input
	src      rawSource
	dec      *xml.Decoder
	names    []string
	rawIdx   map[string]int
	me       meSet
	sawRoot  bool
	arena    recordArena
	finished bool
}

func newSMSReader(in *input, src rawSource, opts Options) (Reader, error) {
	stopRecording(src)
	dec := xml.NewDecoder(newSurrogateFixer(in.br))
	dec.Strict = true
	dec.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "utf8") {
			return input, nil
		}
		return nil, fmt.Errorf("XML encoding %q is not supported (SMS Backup & Restore writes UTF-8)", charset)
	}
	raw := smsRawNames()
	idx := make(map[string]int, len(raw))
	for i, n := range raw {
		idx[n] = i
	}
	names := append(raw, chatFieldNames()...)
	return &smsReader{in: in, src: src, dec: dec, names: names[:len(names):len(names)], rawIdx: idx, me: newMeSet(opts.Me)}, nil
}

func (r *smsReader) Format() string { return FormatSMSXML }
func (r *smsReader) Close() error   { return r.src.Close() }

func (r *smsReader) fail(line int, err error) error {
	r.finished = true
	return fmt.Errorf("%s:%d: %w", r.in.name, line, err)
}

func (r *smsReader) Next() (*Record, error) {
	if r.finished {
		return nil, io.EOF
	}
	for {
		line, _ := r.dec.InputPos()
		off := r.dec.InputOffset()
		tok, err := r.dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.finished = true
				if !r.sawRoot {
					return nil, fmt.Errorf("%s: no <smses> element: not an SMS Backup & Restore file", r.in.name)
				}
				return nil, io.EOF
			}
			l, _ := r.dec.InputPos()
			return nil, r.fail(l, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "smses":
			r.sawRoot = true
		case "sms":
			if !r.sawRoot {
				return nil, r.fail(line, errors.New("<sms> outside <smses>"))
			}
			return r.sms(se, line, off), nil
		case "mms":
			if !r.sawRoot {
				return nil, r.fail(line, errors.New("<mms> outside <smses>"))
			}
			return r.mms(se, line, off)
		default:
			if !r.sawRoot {
				return nil, r.fail(line, fmt.Errorf("root element <%s> is not <smses>: not an SMS Backup & Restore file", se.Name.Local))
			}
		}
	}
}

func (r *smsReader) newRecord(se xml.StartElement, line int, off int64) (*Record, []string, []string) {
	rec := r.arena.record()
	rec.File, rec.Line, rec.Offset, rec.Names = r.in.name, line, r.in.offset(off), r.names
	vals := r.arena.values(len(r.names))
	rec.Values = vals
	raw := vals[:nSMSRaw]
	raw[0] = se.Name.Local
	for _, a := range se.Attr {
		if i, ok := r.rawIdx[a.Name.Local]; ok && i > 0 {
			raw[i] = a.Value
		}
	}
	return rec, raw, vals[nSMSRaw:]
}

func nullable(s string) string {
	if s == "null" {
		return ""
	}
	return s
}

// epochTime converts SMS Backup & Restore's epoch milliseconds (seconds on
// some old MMS) to RFC 3339 UTC with milliseconds.
func epochTime(s string) (string, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return "", false
	}
	if n < 100_000_000_000 { // before 1973 in ms: the value is in seconds
		n *= 1000
	}
	return time.UnixMilli(n).UTC().Format("2006-01-02T15:04:05.000Z07:00"), true
}

func (r *smsReader) setTime(rec *Record, raw, v []string) {
	v[iSentAt] = raw[3]
	t, ok := epochTime(raw[3])
	if !ok {
		rec.Err = &RowError{File: rec.File, Line: rec.Line, Msg: fmt.Sprintf("date %q is not epoch milliseconds", raw[3])}
		return
	}
	v[iTime] = t
}

func (r *smsReader) sms(se xml.StartElement, line int, off int64) *Record {
	rec, raw, v := r.newRecord(se, line, off)
	v[iChannel], v[iKind] = ChannelSMS, KindMessage
	addr := phoneHandle(nullable(raw[1]))
	name := nullable(raw[2])
	if name == "(Unknown)" {
		name = ""
	}
	v[iConvID], v[iConvTitle] = addr, name
	v[iText] = nullable(raw[12])
	r.setTime(rec, raw, v)
	v[iCounterpart] = addr
	switch strings.TrimSpace(raw[5]) {
	case "1":
		v[iDirection] = DirInbound
		v[iSender], v[iSenderID] = firstNonEmpty(name, addr), addr
	case "2", "3", "4", "5", "6":
		v[iDirection] = DirOutbound
		v[iRecipients] = addr
	default:
		v[iDirection] = DirUnknown
		if rec.Err == nil {
			rec.Err = &RowError{File: rec.File, Line: rec.Line, Msg: fmt.Sprintf("sms type %q is not 1-6", raw[5])}
		}
	}
	return rec
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

type mmsPart struct {
	seq        int
	ct, name   string
	text       string
	isText     bool
	attachment bool
}

func (r *smsReader) mms(se xml.StartElement, line int, off int64) (*Record, error) {
	rec, raw, v := r.newRecord(se, line, off)
	v[iChannel] = ChannelSMS
	var parts []mmsPart
	var from string
	var to []string
	for depth := 1; depth > 0; {
		tok, err := r.dec.Token()
		if err != nil {
			l, _ := r.dec.InputPos()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, r.fail(l, fmt.Errorf("inside <mms> of line %d: %w", line, err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch t.Name.Local {
			case "part":
				p := mmsPart{seq: 0}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "seq":
						p.seq, _ = strconv.Atoi(a.Value)
					case "ct":
						p.ct = a.Value
					case "name", "cl":
						if n := nullable(a.Value); n != "" && p.name == "" {
							p.name = n
						}
					case "text":
						p.text = nullable(a.Value)
					}
				}
				ct := strings.ToLower(p.ct)
				p.isText = ct == "text/plain"
				p.attachment = !p.isText && ct != "application/smil" && ct != ""
				parts = append(parts, p)
			case "addr":
				var addr, typ string
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "address":
						addr = a.Value
					case "type":
						typ = a.Value
					}
				}
				switch typ {
				case "137":
					from = addr
				case "151", "130", "129":
					to = append(to, addr)
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].seq < parts[j].seq })
	var text []string
	var attach []string
	for _, p := range parts {
		switch {
		case p.isText && p.text != "":
			text = append(text, p.text)
		case p.attachment:
			attach = append(attach, firstNonEmpty(p.name, p.ct))
		}
	}
	v[iText] = strings.Join(text, "\n")
	v[iAttachments] = strings.Join(attach, ";")
	v[iKind] = KindMessage
	if v[iText] == "" && len(attach) > 0 {
		v[iKind] = KindMedia
	}
	r.setTime(rec, raw, v)
	name := nullable(raw[2])
	if name == "(Unknown)" {
		name = ""
	}
	v[iConvTitle] = name
	// The address attribute lists the other parties, "~"-joined.
	var others []string
	for _, a := range strings.Split(nullable(raw[1]), "~") {
		if h := phoneHandle(a); h != "" {
			others = append(others, h)
		}
	}
	sorted := append([]string(nil), others...)
	sort.Strings(sorted)
	v[iConvID] = joinNonEmpty(sorted)
	dir := DirUnknown
	switch strings.TrimSpace(raw[6]) {
	case "1":
		dir = DirInbound
	case "2", "3", "4":
		dir = DirOutbound
	default:
		switch strings.TrimSpace(raw[7]) {
		case "132", "130":
			dir = DirInbound
		case "128":
			dir = DirOutbound
		}
	}
	v[iDirection] = dir
	fromH := ""
	if from != "" && from != "insert-address-token" {
		fromH = phoneHandle(from)
	}
	var recips []string
	for _, a := range to {
		if a != "insert-address-token" {
			recips = append(recips, phoneHandle(a))
		}
	}
	if len(recips) == 0 && dir == DirOutbound {
		recips = others
	}
	v[iRecipients] = joinNonEmpty(recips)
	switch dir {
	case DirInbound:
		if fromH == "" && len(others) > 0 {
			fromH = others[0]
		}
		v[iSender], v[iSenderID], v[iCounterpart] = fromH, fromH, fromH
	case DirOutbound:
		var cp []string
		for _, h := range recips {
			if !r.me.has(h) {
				cp = append(cp, h)
			}
		}
		v[iCounterpart] = joinNonEmpty(cp)
	default:
		if rec.Err == nil {
			rec.Err = &RowError{File: rec.File, Line: rec.Line, Msg: fmt.Sprintf("mms msg_box %q / m_type %q tell no direction", raw[6], raw[7])}
		}
	}
	return rec, nil
}
