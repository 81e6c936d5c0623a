package source

// waHeader is the timestamp header that starts a WhatsApp message line:
// Android "DATE, TIME - ", iOS "[DATE, TIME] ", in the locale variants of
// chat-formats.md §1.2. Offsets index the line the header was parsed from.
type waHeader struct {
	a, b, c    int // the three date numbers as written
	la, lb, lc int // their digit counts
	hour, min  int
	sec        int
	ampm       byte // 0, 'a' or 'p'
	stampStart int  // where the date starts
	stampEnd   int  // where the time (with any am/pm marker) ends
	rest       int  // where the author (or system text) starts
}

// spaceLen is the length of the Unicode space separator at s[i], or 0:
// ASCII space, NBSP, U+2000–U+200A (thin spaces), NNBSP, U+3000.
func spaceLen(s []byte, i int) int {
	if i >= len(s) {
		return 0
	}
	switch c := s[i]; {
	case c == ' ':
		return 1
	case c == 0xC2 && i+1 < len(s) && s[i+1] == 0xA0:
		return 2
	case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] >= 0x80 && s[i+2] <= 0x8A || s[i+2] == 0xAF):
		return 3
	case c == 0xE3 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2] == 0x80:
		return 3
	}
	return 0
}

func skipSpaces(s []byte, i int) int {
	for {
		n := spaceLen(s, i)
		if n == 0 {
			return i
		}
		i += n
	}
}

// digitsAt reads 1..maxN ASCII digits at s[i].
func digitsAt(s []byte, i, maxN int) (v, n int) {
	for i+n < len(s) && n < maxN && s[i+n] >= '0' && s[i+n] <= '9' {
		v = v*10 + int(s[i+n]-'0')
		n++
	}
	if i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '9' {
		return 0, 0 // too many digits
	}
	return v, n
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// ampmAt reads an am/pm marker at s[i]: "PM", "pm", "p.m.", "p. m.", with
// any space separator inside.
func ampmAt(s []byte, i int) (byte, int) {
	if i >= len(s) {
		return 0, 0
	}
	m := s[i] | 0x20
	if m != 'a' && m != 'p' {
		return 0, 0
	}
	k := i + 1
	if k < len(s) && s[k] == '.' {
		k++
	}
	k = skipSpaces(s, k)
	if k >= len(s) || s[k]|0x20 != 'm' {
		return 0, 0
	}
	k++
	if k < len(s) && s[k] == '.' {
		k++
	}
	if k < len(s) && isLetter(s[k]) {
		return 0, 0
	}
	return m, k - i
}

// cjkMarker reads a Chinese, Japanese or Korean am/pm marker that precedes
// the time.
func cjkMarker(s []byte, i int) (byte, int) {
	for _, m := range [...]struct {
		s string
		v byte
	}{{"上午", 'a'}, {"午前", 'a'}, {"오전", 'a'}, {"下午", 'p'}, {"午後", 'p'}, {"오후", 'p'}} {
		if len(s)-i >= len(m.s) && string(s[i:i+len(m.s)]) == m.s {
			return m.v, len(m.s)
		}
	}
	return 0, 0
}

// normaliseDigits maps Arabic-Indic and Extended Arabic-Indic digits and the
// Arabic comma at the start of a line to ASCII, so Persian and Arabic
// headers parse; it returns line unchanged when it does not start that way.
func normaliseDigits(line []byte) []byte {
	i := 0
	if i < len(line) && line[i] == '[' {
		i++
	}
	if i+1 >= len(line) || (line[i] != 0xD9 && line[i] != 0xDB) {
		return line
	}
	out := make([]byte, 0, len(line))
	out = append(out, line[:i]...)
	// Convert up to the header separator; the body stays as written.
	for i < len(line) {
		c := line[i]
		switch {
		case c == 0xD9 && i+1 < len(line) && line[i+1] >= 0xA0 && line[i+1] <= 0xA9:
			out = append(out, '0'+line[i+1]-0xA0)
			i += 2
		case c == 0xDB && i+1 < len(line) && line[i+1] >= 0xB0 && line[i+1] <= 0xB9:
			out = append(out, '0'+line[i+1]-0xB0)
			i += 2
		case c == 0xD8 && i+1 < len(line) && line[i+1] == 0x8C:
			out = append(out, ',')
			i += 2
		case c == '-' || c == ']':
			return append(out, line[i:]...)
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// parseWAHeader parses the header at the start of a line whose bidi marks
// were removed and whose digits went through normaliseDigits. It accepts only a full header (date, time and separator), so
// a body line that starts with a date stays a continuation line.
func parseWAHeader(s []byte) (h waHeader, ok bool) {
	i := 0
	bracket := i < len(s) && s[i] == '['
	if bracket {
		i++
	}
	h.stampStart = i
	var n int
	if h.a, n = digitsAt(s, i, 4); n == 0 {
		return h, false
	}
	h.la, i = n, i+n
	if i >= len(s) || (s[i] != '/' && s[i] != '.' && s[i] != '-') {
		return h, false
	}
	sep := s[i]
	i = skipSpaces(s, i+1)
	if h.b, n = digitsAt(s, i, 2); n == 0 {
		return h, false
	}
	h.lb, i = n, i+n
	if i >= len(s) || s[i] != sep {
		return h, false
	}
	i = skipSpaces(s, i+1)
	if h.c, n = digitsAt(s, i, 4); n == 0 {
		return h, false
	}
	h.lc, i = n, i+n
	if i < len(s) && s[i] == '.' {
		i++
	}
	if i < len(s) && s[i] == ',' {
		i++
	}
	j := skipSpaces(s, i)
	if j == i {
		return h, false
	}
	i = j
	if i < len(s) && isLetter(s[i]) { // a word such as Finnish "klo"
		k := i
		for k < len(s) && isLetter(s[k]) {
			k++
		}
		if j = skipSpaces(s, k); j == k {
			return h, false
		}
		i = j
	}
	if m, l := cjkMarker(s, i); l > 0 {
		h.ampm, i = m, skipSpaces(s, i+l)
	}
	if h.hour, n = digitsAt(s, i, 2); n == 0 {
		return h, false
	}
	i += n
	if i >= len(s) || (s[i] != ':' && s[i] != '.') {
		return h, false
	}
	if h.min, n = digitsAt(s, i+1, 2); n != 2 {
		return h, false
	}
	i += 3
	if i < len(s) && (s[i] == ':' || s[i] == '.') {
		if v, n := digitsAt(s, i+1, 2); n == 2 {
			h.sec, i = v, i+3
		}
	}
	h.stampEnd = i
	j = skipSpaces(s, i)
	if m, l := ampmAt(s, j); l > 0 {
		h.ampm, i = m, j+l
		h.stampEnd = i
	}
	if bracket {
		if i >= len(s) || s[i] != ']' {
			return h, false
		}
		i = skipSpaces(s, i+1)
	} else {
		j = skipSpaces(s, i)
		switch {
		case j > i && j < len(s) && s[j] == '-':
			k := skipSpaces(s, j+1)
			if k == j+1 && k < len(s) {
				return h, false
			}
			i = k
		case j == i && i < len(s) && s[i] == ':': // pre-2015 "TIME: Name: text"
			k := skipSpaces(s, i+1)
			if k == i+1 {
				return h, false
			}
			i = k
		default:
			return h, false
		}
	}
	h.rest = i
	if h.min > 59 || h.sec > 59 {
		return h, false
	}
	if h.ampm != 0 && (h.hour < 1 || h.hour > 12) || h.hour > 23 {
		return h, false
	}
	if h.la != 4 && (h.la > 2 || (h.lc != 2 && h.lc != 4)) || h.la == 4 && h.lc > 2 {
		return h, false
	}
	return h, true
}

// Date orders (Options.DateOrder).
const (
	OrderDMY = "DMY"
	OrderMDY = "MDY"
	OrderYMD = "YMD"
)

// evidence says which order a header's date proves, "" when it proves none.
func (h *waHeader) evidence() string {
	switch {
	case h.la == 4 || h.a > 31:
		return OrderYMD
	case h.a > 12 && h.b > 12:
		return "?" // impossible under either order
	case h.a > 12:
		return OrderDMY
	case h.b > 12:
		return OrderMDY
	}
	return ""
}

// date returns year, month and day under order, ok false when the date does
// not exist.
func (h *waHeader) date(order string) (y, m, d int, ok bool) {
	ly := h.lc
	switch order {
	case OrderDMY:
		d, m, y = h.a, h.b, h.c
	case OrderMDY:
		m, d, y = h.a, h.b, h.c
	case OrderYMD:
		y, m, d, ly = h.a, h.b, h.c, h.la
	default:
		return 0, 0, 0, false
	}
	if ly <= 2 {
		y += 2000
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return y, m, d, false
	}
	return y, m, d, true
}

// clock returns hour, minute, second on a 24-hour clock.
func (h *waHeader) clock() (int, int, int) {
	hour := h.hour
	switch h.ampm {
	case 'a':
		if hour == 12 {
			hour = 0
		}
	case 'p':
		if hour != 12 {
			hour += 12
		}
	}
	return hour, h.min, h.sec
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendLocalTime appends "2006-01-02T15:04:05".
func appendLocalTime(b []byte, y, mo, d, h, mi, s int) []byte {
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':')
	return append(b, byte('0'+s/10), byte('0'+s%10))
}
