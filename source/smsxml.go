package source

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Raw columns of an sms-xml record, the attributes worth keeping of <sms>
// and <mms> ("element" says which).
func smsRawNames() []string {
	return []string{"element", "address", "contact_name", "date", "date_sent", "type", "msg_box", "m_type",
		"read", "status", "sub_id", "subject", "body", "service_center", "m_id"}
}

const nSMSRaw = 15

// smsReader reads an "SMS Backup & Restore" XML file element by element.
type smsReader struct {
	in       *input
	src      rawSource
	sc       *xmlScanner
	names    []string
	rawIdx   map[string]int
	me       meSet
	sawRoot  bool
	arena    recordArena
	finished bool
}

func newSMSReader(in *input, src rawSource, opts Options) (Reader, error) {
	stopRecording(src)
	raw := smsRawNames()
	idx := make(map[string]int, len(raw))
	for i, n := range raw {
		idx[n] = i
	}
	names := append(raw, chatFieldNames()...)
	r := &smsReader{in: in, src: src, names: names[:len(names):len(names)], rawIdx: idx, me: newMeSet(opts.Me)}
	r.sc = newXMLScanner(in.br, r.keep)
	return r, nil
}

// keep selects the attributes the reader uses; the rest (MMS data above
// all) are skipped unread.
func (r *smsReader) keep(elem string, attr []byte) bool {
	switch elem {
	case "sms", "mms":
		_, ok := r.rawIdx[string(attr)]
		return ok
	case "part":
		switch string(attr) {
		case "seq", "ct", "name", "cl", "text":
			return true
		}
	case "addr":
		switch string(attr) {
		case "address", "type":
			return true
		}
	}
	return false
}

func (r *smsReader) Format() string { return FormatSMSXML }
func (r *smsReader) Close() error   { return r.src.Close() }

func (r *smsReader) fail(err error) error {
	r.finished = true
	line := r.sc.line
	var se *xmlSyntaxError
	if errors.As(err, &se) {
		line = se.Line
	}
	return fmt.Errorf("%s:%d: %w", r.in.name, line, err)
}

func (r *smsReader) Next() (*Record, error) {
	if r.finished {
		return nil, io.EOF
	}
	for {
		ev, err := r.sc.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.finished = true
				if !r.sawRoot {
					return nil, fmt.Errorf("%s: no <smses> element: not an SMS Backup & Restore file", r.in.name)
				}
				return nil, io.EOF
			}
			return nil, r.fail(err)
		}
		if !ev.start {
			continue
		}
		switch ev.name {
		case "smses":
			r.sawRoot = true
		case "sms":
			if !r.sawRoot {
				return nil, r.fail(&xmlSyntaxError{Line: ev.line, Msg: "<sms> outside <smses>"})
			}
			rec := r.sms(ev)
			if !ev.end {
				if err := r.skipElement(); err != nil {
					return nil, err
				}
			}
			return rec, nil
		case "mms":
			if !r.sawRoot {
				return nil, r.fail(&xmlSyntaxError{Line: ev.line, Msg: "<mms> outside <smses>"})
			}
			return r.mms(ev)
		default:
			if !r.sawRoot {
				return nil, r.fail(&xmlSyntaxError{Line: ev.line, Msg: fmt.Sprintf("root element <%s> is not <smses>: not an SMS Backup & Restore file", ev.name)})
			}
		}
	}
}

// skipElement reads past the end of the element just started.
func (r *smsReader) skipElement() error {
	for depth := 1; depth > 0; {
		ev, err := r.sc.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = &xmlSyntaxError{Line: r.sc.line, Msg: "unexpected EOF"}
			}
			return r.fail(err)
		}
		switch {
		case ev.start && ev.end:
		case ev.start:
			depth++
		case ev.end:
			depth--
		}
	}
	return nil
}

func (r *smsReader) newRecord(ev xmlEvent) (*Record, []string, []string) {
	rec := r.arena.record()
	rec.File, rec.Line, rec.Offset, rec.Names = r.in.name, ev.line, r.in.offset(ev.off), r.names
	vals := r.arena.values(len(r.names))
	rec.Values = vals
	raw := vals[:nSMSRaw]
	raw[0] = ev.name
	for _, a := range ev.attrs {
		if i, ok := r.rawIdx[a.name]; ok && i > 0 {
			raw[i] = a.value
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

func (r *smsReader) sms(ev xmlEvent) *Record {
	rec, raw, v := r.newRecord(ev)
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

func (r *smsReader) mms(ev xmlEvent) (*Record, error) {
	rec, raw, v := r.newRecord(ev)
	v[iChannel] = ChannelSMS
	var parts []mmsPart
	var from string
	var to []string
	for depth := 1; depth > 0 && !ev.end; {
		t, err := r.sc.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = &xmlSyntaxError{Line: r.sc.line, Msg: "unexpected EOF"}
			}
			return nil, r.fail(fmt.Errorf("inside <mms> of line %d: %w", ev.line, err))
		}
		if !t.start {
			depth--
			continue
		}
		if !t.end {
			depth++
		}
		switch t.name {
		case "part":
			p := mmsPart{}
			for _, a := range t.attrs {
				switch a.name {
				case "seq":
					p.seq, _ = strconv.Atoi(a.value)
				case "ct":
					p.ct = a.value
				case "name", "cl":
					if n := nullable(a.value); n != "" && p.name == "" {
						p.name = n
					}
				case "text":
					p.text = nullable(a.value)
				}
			}
			ct := strings.ToLower(p.ct)
			p.isText = ct == "text/plain"
			p.attachment = !p.isText && ct != "application/smil" && ct != ""
			parts = append(parts, p)
		case "addr":
			var addr, typ string
			for _, a := range t.attrs {
				switch a.name {
				case "address":
					addr = a.value
				case "type":
					typ = a.value
				}
			}
			switch typ {
			case "137":
				from = addr
			case "151", "130", "129":
				to = append(to, addr)
			}
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
