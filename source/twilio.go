package source

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// twilioLayouts are the SentDate spellings accepted; each carries an offset.
func twilioLayouts() []string {
	return []string{time.RFC3339Nano, time.RFC1123Z, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05-0700"}
}

// twilioReader reads Twilio's message log CSV (console export).
type twilioReader struct {
	cc                                          *chatCSV
	from, to, body, status, date, dir, sid, med int
	layouts                                     []string
}

func newTwilioReader(in *input, src rawSource, opts Options) (Reader, error) {
	cc, err := newChatCSV(in, src, opts)
	if err != nil {
		return nil, err
	}
	h := cc.c.header
	r := &twilioReader{
		cc:      cc,
		from:    columnIndex(h, "From"),
		to:      columnIndex(h, "To"),
		body:    columnIndex(h, "Body"),
		status:  columnIndex(h, "Status"),
		date:    columnIndex(h, "SentDate", "DateSent", "Date Sent", "date_sent"),
		dir:     columnIndex(h, "Direction"),
		sid:     columnIndex(h, "Sid", "MessageSid"),
		med:     columnIndex(h, "NumMedia"),
		layouts: twilioLayouts(),
	}
	if err := cc.requireColumns(map[string]int{"From": r.from, "To": r.to, "Body": r.body, "SentDate": r.date, "Direction": r.dir}); err != nil {
		cc.c.close()
		return nil, err
	}
	return r, nil
}

func (r *twilioReader) Format() string { return FormatTwilio }
func (r *twilioReader) Close() error   { return r.cc.c.close() }

func (r *twilioReader) Next() (*Record, error) {
	rec, raw, v, err := r.cc.next()
	if err != nil {
		return nil, err
	}
	from, to := strings.TrimSpace(field(raw, r.from)), strings.TrimSpace(field(raw, r.to))
	v[iChannel] = ChannelSMS
	if hasScheme(from, "whatsapp:") || hasScheme(to, "whatsapp:") {
		v[iChannel] = ChannelWhatsApp
	}
	fromH, toH := phoneHandle(from), phoneHandle(to)
	v[iSender] = fromH
	v[iSenderID] = fromH
	v[iRecipients] = toH
	dir := strings.ToLower(strings.TrimSpace(field(raw, r.dir)))
	switch {
	case dir == "inbound":
		v[iDirection], v[iCounterpart] = DirInbound, fromH
	case strings.HasPrefix(dir, "outbound"):
		v[iDirection], v[iCounterpart] = DirOutbound, toH
	default:
		v[iDirection] = DirUnknown
		if rec.Err == nil {
			rec.Err = &RowError{File: rec.File, Line: rec.Line, Msg: fmt.Sprintf("Direction %q is neither inbound nor outbound-*", field(raw, r.dir))}
		}
	}
	pair := []string{fromH, toH}
	sort.Strings(pair)
	v[iConvID] = strings.Join(pair, ";")
	v[iSentAt] = field(raw, r.date)
	if s := strings.TrimSpace(v[iSentAt]); s != "" {
		v[iTime] = parseWithOffset(s, r.layouts)
		if v[iTime] == "" && rec.Err == nil {
			rec.Err = &RowError{File: rec.File, Line: rec.Line, Msg: fmt.Sprintf("SentDate %q has no recognised layout with a UTC offset", s)}
		}
	}
	v[iText] = field(raw, r.body)
	v[iKind] = KindMessage
	if n, _ := strconv.Atoi(strings.TrimSpace(field(raw, r.med))); n > 0 && strings.TrimSpace(v[iText]) == "" {
		v[iKind] = KindMedia
	}
	return rec, nil
}

func hasScheme(s, scheme string) bool {
	return len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme)
}

// parseWithOffset parses s with the first layout that fits and returns it as
// RFC 3339 in UTC (with milliseconds when s has a fraction), or "".
func parseWithOffset(s string, layouts []string) string {
	for _, l := range layouts {
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		if t.Nanosecond() != 0 {
			return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		}
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
