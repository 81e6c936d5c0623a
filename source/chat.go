package source

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Indexes of the normalised chat fields within chatFieldNames.
const (
	iConvID = iota
	iConvTitle
	iSender
	iSenderID
	iRecipients
	iCounterpart
	iDirection
	iSentAt
	iTime
	iLocalTime
	iText
	iAttachments
	iKind
	iChannel
	nChat
)

// chatFieldNames returns the normalised chat fields in the order every chat
// record carries them (after any raw columns).
func chatFieldNames() []string {
	return []string{
		FieldConversationID, FieldConversationTitle, FieldSender, FieldSenderID,
		FieldRecipients, FieldCounterpart, FieldDirection, FieldSentAt, FieldTime,
		FieldLocalTime, FieldText, FieldAttachments, FieldKind, FieldChannel,
	}
}

// Directions and channels.
const (
	DirInbound  = "inbound"
	DirOutbound = "outbound"
	DirUnknown  = "unknown"

	ChannelWhatsApp = "WHATS_APP"
	ChannelLinkedIn = "LINKEDIN_MESSAGE"
	ChannelSMS      = "SMS"
)

// recordArena hands out Records and Values slices carved from larger blocks,
// so a reader allocates per block rather than per row. Each record's Values
// is capped, so appending to it never touches a neighbour.
type recordArena struct {
	recs []Record
	vals []string
}

func (a *recordArena) record() *Record {
	if len(a.recs) == 0 {
		a.recs = make([]Record, 256)
	}
	r := &a.recs[0]
	a.recs = a.recs[1:]
	return r
}

func (a *recordArena) values(n int) []string {
	if n > 1024 {
		return make([]string, n)
	}
	if len(a.vals) < n {
		a.vals = make([]string, max(n*256, 4096))
	}
	v := a.vals[:n:n]
	a.vals = a.vals[n:]
	return v
}

// meSet tells whether a name, phone or profile URL is "us" (Options.Me).
type meSet struct {
	names  map[string]bool
	phones map[string]bool
	urls   map[string]bool
}

func newMeSet(me []string) meSet {
	m := meSet{names: map[string]bool{}, phones: map[string]bool{}, urls: map[string]bool{}}
	for _, v := range me {
		v = strings.TrimSpace(stripBidi(v))
		if v == "" {
			continue
		}
		if u, ok := linkedInURL(v); ok {
			m.urls[u] = true
			continue
		}
		if d, ok := phoneDigits(v); ok {
			m.phones[d] = true
		}
		m.names[foldName(v)] = true
	}
	return m
}

func (m meSet) empty() bool { return len(m.names)+len(m.phones)+len(m.urls) == 0 }

// has reports whether any of the handles (name, phone or URL) is us.
func (m meSet) has(handles ...string) bool {
	for _, h := range handles {
		if h == "" {
			continue
		}
		if len(m.urls) > 0 {
			if u, ok := linkedInURL(h); ok && m.urls[u] {
				return true
			}
		}
		if len(m.phones) > 0 {
			if d, ok := phoneDigits(h); ok && m.phones[d] {
				return true
			}
		}
		if m.names[foldName(h)] {
			return true
		}
	}
	return false
}

// direction is outbound when the sender is us, inbound when Me is set and
// the sender is not us, unknown when Me is empty.
func (m meSet) direction(handles ...string) string {
	if m.empty() {
		return DirUnknown
	}
	if m.has(handles...) {
		return DirOutbound
	}
	return DirInbound
}

func foldName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// phoneDigits returns the digits of s when s is written as a phone number
// (digits, spaces, + ( ) - . / and the non-breaking hyphen), at least 3 digits.
func phoneDigits(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0:
		case r == ' ' || r == '(' || r == ')' || r == '-' || r == '.' || r == '/' || r == '\u2011' || r == '\u00a0' || r == '\u202f':
		default:
			return "", false
		}
	}
	if b.Len() < 3 {
		return "", false
	}
	return b.String(), true
}

// phoneHandle normalises a handle that may be a phone number: bidi marks and
// whatsapp:/tel:/sms: schemes removed; a phone becomes "+digits" when written
// with a leading + (E.164) and bare digits otherwise (its region is the
// mapping's business); anything else (short names, e-mail, alphanumeric
// sender ids) is returned trimmed.
func phoneHandle(s string) string {
	s = strings.TrimSpace(stripBidi(s))
	for _, p := range []string{"whatsapp:", "tel:", "sms:"} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
		}
	}
	d, ok := phoneDigits(s)
	if !ok {
		return s
	}
	if strings.HasPrefix(s, "+") {
		return "+" + d
	}
	return d
}

// isPhone reports whether s is written as an international phone number.
func isPhone(s string) bool {
	s = strings.TrimSpace(s)
	d, ok := phoneDigits(s)
	return ok && strings.HasPrefix(s, "+") && len(d) >= 7
}

// linkedInURL normalises a LinkedIn profile URL to
// https://www.linkedin.com/in/<slug> (scheme, country subdomain, query,
// fragment, trailing slash and case dropped).
func linkedInURL(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.Contains(strings.ToLower(s), "linkedin.com/") {
		return "", false
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host != "linkedin.com" && !strings.HasSuffix(host, ".linkedin.com") {
		return "", false
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		return "", false
	}
	return "https://www.linkedin.com/" + strings.ToLower(path), true
}

// stripBidi removes the invisible direction marks and byte-order marks that
// WhatsApp and others sprinkle around names, numbers and placeholders
// (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, U+FEFF).
func stripBidi(s string) string {
	if !strings.ContainsAny(s, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isBidi(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isBidi(r rune) bool {
	switch {
	case r == '\u200e', r == '\u200f', r == '\ufeff':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// stripBidiBytes is stripBidi for a line; it returns line itself when there
// is nothing to strip. All the marks start with byte 0xE2 or 0xEF, so only
// those positions are decoded.
func stripBidiBytes(line []byte) []byte {
	var out []byte
	changed := false
	start, i := 0, 0
	nextEF := bytes.IndexByte(line, 0xEF)
	for i < len(line) {
		p := bytes.IndexByte(line[i:], 0xE2)
		if p >= 0 {
			p += i
		}
		if nextEF >= 0 && nextEF < i {
			nextEF = bytes.IndexByte(line[i:], 0xEF)
			if nextEF >= 0 {
				nextEF += i
			}
		}
		if nextEF >= 0 && (p < 0 || nextEF < p) {
			p = nextEF
		}
		if p < 0 {
			break
		}
		r, n := utf8.DecodeRune(line[p:])
		if isBidi(r) {
			if !changed {
				out = make([]byte, 0, len(line))
				changed = true
			}
			out = append(out, line[start:p]...)
			start = p + n
		}
		i = p + n
	}
	if !changed {
		return line
	}
	return append(out, line[start:]...)
}

// joinNonEmpty joins the non-empty values with ";", dropping duplicates.
func joinNonEmpty(vals []string) string {
	var out []string
	for _, v := range vals {
		if v == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == v {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return strings.Join(out, ";")
}
