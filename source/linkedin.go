package source

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// columnIndex finds header columns by name, ignoring case and surrounding
// space; -1 when absent.
func columnIndex(header []string, names ...string) int {
	for _, n := range names {
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), n) {
				return i
			}
		}
	}
	return -1
}

func field(fields []string, i int) string {
	if i < 0 || i >= len(fields) {
		return ""
	}
	return fields[i]
}

// chatCSV is the common part of chat formats that are CSV files: raw columns
// first, then the normalised chat fields.
type chatCSV struct {
	c     *csvCore
	names []string
	me    meSet
}

func newChatCSV(in *input, src rawSource, opts Options) (*chatCSV, error) {
	c, err := newCSVCore(in, src, opts.Delimiter)
	if err != nil {
		return nil, err
	}
	stopRecording(src)
	names := append(append([]string{}, c.header...), chatFieldNames()...)
	return &chatCSV{c: c, names: names[:len(names):len(names)], me: newMeSet(opts.Me)}, nil
}

func (cc *chatCSV) requireColumns(cols map[string]int) error {
	var missing []string
	for name, i := range cols {
		if i < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s:1: header lacks column(s) %s", cc.c.in.name, strings.Join(sortedStrings(missing), ", "))
}

// next reads a row into a record whose raw part is filled; chat is the
// slice of normalised values to fill.
func (cc *chatCSV) next() (rec *Record, raw []string, chat []string, err error) {
	fields, line, off, rowErr, err := cc.c.read()
	if err != nil {
		return nil, nil, nil, err
	}
	rec = cc.c.arena.record()
	rec.File, rec.Line, rec.Offset, rec.Names = cc.c.in.name, line, off, cc.names
	nh := len(cc.c.header)
	vals := cc.c.arena.values(len(cc.names))
	copy(vals[:nh], fields)
	rec.Values = vals
	if rowErr != nil {
		rec.Err = rowErr
	} else {
		rec.Err = cc.c.rowProblem(fields, line)
	}
	return rec, vals[:nh], vals[nh:], nil
}

// linkedInReader reads messages.csv from LinkedIn's data export.
type linkedInReader struct {
	cc                                                   *chatCSV
	convID, title, from, fromURL, to, toURLs, date, body int
	attach, folder                                       int
}

func newLinkedInReader(in *input, src rawSource, opts Options) (Reader, error) {
	cc, err := newChatCSV(in, src, opts)
	if err != nil {
		return nil, err
	}
	h := cc.c.header
	r := &linkedInReader{
		cc:      cc,
		convID:  columnIndex(h, "CONVERSATION ID"),
		title:   columnIndex(h, "CONVERSATION TITLE"),
		from:    columnIndex(h, "FROM"),
		fromURL: columnIndex(h, "SENDER PROFILE URL"),
		to:      columnIndex(h, "TO"),
		toURLs:  columnIndex(h, "RECIPIENT PROFILE URLS"),
		date:    columnIndex(h, "DATE"),
		body:    columnIndex(h, "CONTENT"),
		attach:  columnIndex(h, "ATTACHMENTS"),
		folder:  columnIndex(h, "FOLDER"),
	}
	if err := cc.requireColumns(map[string]int{
		"CONVERSATION ID": r.convID, "FROM": r.from, "SENDER PROFILE URL": r.fromURL,
		"DATE": r.date, "CONTENT": r.body,
	}); err != nil {
		cc.c.close()
		return nil, err
	}
	return r, nil
}

func (r *linkedInReader) Format() string { return FormatLinkedIn }
func (r *linkedInReader) Close() error   { return r.cc.c.close() }

func (r *linkedInReader) Next() (*Record, error) {
	rec, raw, v, err := r.cc.next()
	if err != nil {
		return nil, err
	}
	v[iConvID] = field(raw, r.convID)
	v[iConvTitle] = field(raw, r.title)
	v[iSender] = repairMojibake(strings.TrimSpace(field(raw, r.from)))
	senderURL := strings.TrimSpace(field(raw, r.fromURL))
	if u, ok := linkedInURL(senderURL); ok {
		senderURL = u
	}
	v[iSenderID] = senderURL
	var recips []string
	for _, u := range strings.Split(field(raw, r.toURLs), ";") {
		u = strings.TrimSpace(u)
		if n, ok := linkedInURL(u); ok {
			u = n
		}
		recips = append(recips, u)
	}
	v[iRecipients] = joinNonEmpty(recips)
	v[iDirection] = r.cc.me.direction(senderURL, v[iSender])
	switch v[iDirection] {
	case DirInbound:
		v[iCounterpart] = senderURL
	case DirOutbound:
		var others []string
		for _, u := range recips {
			if !r.cc.me.has(u) {
				others = append(others, u)
			}
		}
		v[iCounterpart] = joinNonEmpty(others)
	}
	v[iSentAt] = field(raw, r.date)
	if v[iSentAt] != "" {
		t, perr := time.Parse("2006-01-02 15:04:05 MST", strings.TrimSpace(v[iSentAt]))
		if perr != nil || t.Location().String() != "UTC" {
			if rec.Err == nil {
				rec.Err = &RowError{File: rec.File, Line: rec.Line, Msg: fmt.Sprintf("DATE %q is not \"YYYY-MM-DD HH:MM:SS UTC\"", v[iSentAt])}
			}
		} else {
			v[iTime] = t.UTC().Format(time.RFC3339)
		}
	}
	v[iText] = field(raw, r.body)
	v[iAttachments] = field(raw, r.attach)
	v[iChannel] = ChannelLinkedIn
	v[iKind] = KindMessage
	switch text := strings.TrimSpace(v[iText]); {
	case senderURL == "" || text == "Message request accepted" || text == "A LinkedIn member left the conversation.":
		v[iKind] = KindSystem
	case text == "" && v[iAttachments] != "":
		v[iKind] = KindMedia
	case text == "":
		v[iKind] = KindSystem
	}
	return rec, nil
}

// repairMojibake undoes UTF-8 that was decoded as Windows-1252 once
// ("JosÃ© PeÃ±a" → "José Peña"), only when the whole value round-trips.
func repairMojibake(s string) string {
	if !strings.ContainsAny(s, "ÃÂÅÄ") {
		return s
	}
	b, err := charmap.Windows1252.NewEncoder().String(s)
	if err != nil || !utf8.ValidString(b) || b == s {
		return s
	}
	return b
}
