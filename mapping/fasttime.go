package mapping

import (
	"math"
	"strings"
	"time"
)

// The fast path for wall-clock timestamps. time.Parse and resolveLocal (the
// reference: parseTime) cost about half a microsecond a row; most files
// write every timestamp in one fixed-width numeric layout, and consecutive
// rows fall between the same two DST changes. For those, the digits are read
// by hand and the offset comes from a cache of wall-clock ranges that the
// reference itself resolved. Anything else — another layout, a value that
// does not fill the layout exactly, a field out of range, a time near a zone
// change — goes to the reference, so the results are the reference's.

// fixedLayouts are the wall-clock layouts the fast path reads: fixed-width
// numeric fields only, so that a value of the layout's length with digits
// in place parses the same way by hand as with time.Parse.
var fixedLayouts = []string{
	"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04",
	"02.01.2006 15:04:05", "02.01.2006 15:04",
	"01/02/2006 15:04:05", "01/02/2006 15:04", "02/01/2006 15:04:05", "02/01/2006 15:04",
}

// fixedLayout is a compiled member of fixedLayouts: byte offsets of each
// field (sec is -1 when the layout has no seconds) and the digit positions.
type fixedLayout struct {
	layout                           string
	year, month, day, hour, min, sec int
	digits                           uint32 // bit i: layout[i] is a digit of a field
}

// fixedLayoutFor compiles layout for the fast path; nil when it is not one
// of fixedLayouts.
func fixedLayoutFor(layout string) *fixedLayout {
	known := false
	for _, l := range fixedLayouts {
		known = known || l == layout
	}
	if !known {
		return nil
	}
	f := &fixedLayout{layout: layout, year: strings.Index(layout, "2006"), month: strings.Index(layout, "01"),
		day: strings.Index(layout, "02"), hour: strings.Index(layout, "15"), min: strings.Index(layout, "04"), sec: strings.Index(layout, "05")}
	mark := func(at, n int) {
		for i := range n {
			f.digits |= 1 << (at + i)
		}
	}
	mark(f.year, 4)
	mark(f.month, 2)
	mark(f.day, 2)
	mark(f.hour, 2)
	mark(f.min, 2)
	if f.sec >= 0 {
		mark(f.sec, 2)
	}
	return f
}

// wall reads raw as seconds since 1970-01-01 00:00:00 on the wall clock;
// ok is false unless raw fills the layout exactly with in-range fields.
func (f *fixedLayout) wall(raw string) (w int64, ok bool) {
	if len(raw) != len(f.layout) {
		return 0, false
	}
	for i := 0; i < len(raw); i++ {
		if f.digits>>i&1 != 0 {
			if raw[i]-'0' > 9 {
				return 0, false
			}
		} else if raw[i] != f.layout[i] {
			return 0, false
		}
	}
	num := func(at, n int) int64 {
		v := int64(0)
		for i := at; i < at+n; i++ {
			v = v*10 + int64(raw[i]-'0')
		}
		return v
	}
	y, mo, d, h, mi, s := num(f.year, 4), num(f.month, 2), num(f.day, 2), num(f.hour, 2), num(f.min, 2), int64(0)
	if f.sec >= 0 {
		s = num(f.sec, 2)
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	return daysFromCivil(y, mo, d)*86400 + h*3600 + mi*60 + s, true
}

func daysInMonth(y, m int64) int64 {
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

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil (H. Hinnant's
// civil_from_days).
func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

// zoneRange is a span of wall-clock seconds [lo, hi) that all read at one
// UTC offset, unambiguously.
type zoneRange struct{ lo, hi, off int64 }

// zoneCache remembers the last few zoneRanges of one Location.
type zoneCache struct {
	r    [4]zoneRange
	n    int
	next int
}

func (z *zoneCache) offset(w int64) (int64, bool) {
	for i := 0; i < z.n; i++ {
		if r := &z.r[i]; r.lo <= w && w < r.hi {
			return r.off, true
		}
	}
	return 0, false
}

// learn caches the wall-clock range around t, an instant the reference
// resolved without a note or error, in which the reference provably gives
// wall − offset. Within the zone (the span [start, end) of t.ZoneBounds at
// one offset) that holds for every instant u at least d = max(3h, |offset|)
// away from both bounds: time.Date looks the zone up at u + offset and
// resolveLocal probes u ± 3h, and all of these lie in the zone, so no DST
// gap or overlap can be seen from u.
func (z *zoneCache) learn(t time.Time) {
	start, end := t.ZoneBounds()
	_, o := t.Zone()
	off := int64(o)
	d := max(3*3600, off, -off)
	r := zoneRange{lo: math.MinInt64, hi: math.MaxInt64, off: off}
	if !start.IsZero() {
		r.lo = start.Unix() + d + off
	}
	if !end.IsZero() {
		r.hi = end.Unix() - d + off
	}
	if r.lo >= r.hi {
		return
	}
	for i := 0; i < z.n; i++ {
		if z.r[i] == r {
			return
		}
	}
	z.r[z.next] = r
	z.next = (z.next + 1) % len(z.r)
	z.n = min(z.n+1, len(z.r))
}

// parseWall is parseTime for a wall-clock layout in loc, through the fast
// path when f is not nil.
func (z *zoneCache) parseWall(raw, layout string, f *fixedLayout, loc *time.Location, zone, ambiguous string) (time.Time, string, error) {
	if f == nil {
		return parseTime(raw, layout, false, loc, zone, ambiguous)
	}
	w, ok := f.wall(raw)
	if ok {
		if off, hit := z.offset(w); hit {
			return time.Unix(w-off, 0).In(loc), "", nil
		}
	}
	t, note, err := parseTime(raw, layout, false, loc, zone, ambiguous)
	if ok && err == nil && note == "" {
		z.learn(t)
	}
	return t, note, err
}
