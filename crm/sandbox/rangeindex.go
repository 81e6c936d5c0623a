package sandbox

import (
	"math"
	"slices"
	"sort"
	"time"
)

// The range indexes narrow range searches (GT, GTE, LT, LTE, BETWEEN and
// EQ) on hs_lastmodifieddate and hs_timestamp the way the equality index
// narrows EQ and IN: they only ever name a superset of the matching
// records, and every candidate still goes through searchable,
// matchGroups and matchQuery. hs_object_id needs no index of its own:
// tb.order holds every id ascending (create appends ids that only grow,
// apply inserts in place, a snapshot is replayed through apply), so an id
// range is a slice of it.
//
// A range index is the ordered set of (key, id) of each version of a
// record search may see, with the equality index's rule: the current
// version unless it is archived, and the older one search still sees
// inside the lag (object.indexed) unless that was archived, until
// store.sweep drops it. index and unindex bracket every change to those,
// so removal finds what adding put in. The key is the version's instant
// in whole milliseconds, rounded down: hs_lastmodifieddate's is the
// version's modification time (whole milliseconds already), hs_timestamp's
// the stored value read by parseInstant; a value that does not parse is
// not indexed (no range or EQ filter matches it). Rounding down keeps
// the order, so a filter bound b is widened to the keys between
// floor(b) and floor(b) and the candidates stay a superset.
//
// The set is kept in chunks of sorted entries: a write removes and adds
// one entry in a chunk of at most 2×rangeChunk (modification times only
// grow, so the add is at the end), a search finds its first entry with
// two binary searches and counts a range chunk by chunk.
//
// Memory: 16 bytes an entry (an instant and a pointer), one entry a
// version. Appends at the end, as writes come, leave chunks full; inserts
// in the middle split a chunk into two half full ones, so a record costs
// 16–32 bytes an index, plus a slice header (24 bytes) a chunk of 512.
// Measured with TestMillionCommunications (-million), a million
// communications created in time order with hs_timestamp set: 566 → 598–603
// heap bytes per record for the two indexes together.
type rangeIndex struct {
	prop   string
	chunks [][]rangeEntry // each sorted and non-empty, in order
	n      int            // entries in all chunks
	// key reads a version's key; false when no range filter can match it.
	key func(props map[string]string, updated time.Time) (int64, bool)
}

// rangeEntry holds the record rather than its id: a search walking
// thousands of entries then skips a map lookup each.
type rangeEntry struct {
	key int64
	o   *object
}

func (a rangeEntry) less(b rangeEntry) bool {
	return a.key < b.key || a.key == b.key && a.o.id < b.o.id
}

// rangeChunk is a chunk's size after a split; a chunk splits past twice
// that, so an insert moves at most 8 kB.
const rangeChunk = 256

// rangeIndexed names the properties with a range index and how their
// versions are keyed. Both are datetimes compared by compare as instants.
var rangeIndexed = map[string]func(props map[string]string, updated time.Time) (int64, bool){
	"hs_lastmodifieddate": func(_ map[string]string, updated time.Time) (int64, bool) {
		return updated.UnixMilli(), true
	},
	"hs_timestamp": func(props map[string]string, _ time.Time) (int64, bool) {
		v, ok := props["hs_timestamp"]
		if !ok {
			return 0, false
		}
		t, ok := parseInstant(v)
		if !ok {
			return 0, false
		}
		return t.UnixMilli(), true
	},
}

// chunkFor returns the index of the chunk e belongs in: the last whose
// first entry is not after e, or 0.
func (ix *rangeIndex) chunkFor(e rangeEntry) int {
	i := sort.Search(len(ix.chunks), func(i int) bool { return e.less(ix.chunks[i][0]) })
	return max(i-1, 0)
}

func (ix *rangeIndex) add(e rangeEntry) {
	if len(ix.chunks) == 0 {
		ix.chunks = [][]rangeEntry{make([]rangeEntry, 0, rangeChunk)}
	}
	ci := len(ix.chunks) - 1
	if last := ix.chunks[ci]; len(last) > 0 && e.less(last[0]) {
		ci = ix.chunkFor(e)
	}
	c := ix.chunks[ci]
	i, found := slices.BinarySearchFunc(c, e, cmpEntry)
	if found {
		return
	}
	ix.n++
	if i == len(c) && len(c) == 2*rangeChunk && ci == len(ix.chunks)-1 {
		// An append to a full last chunk, as writes come: a new chunk
		// starts, and the full one stays full.
		ix.chunks = append(ix.chunks, append(make([]rangeEntry, 0, 2*rangeChunk), e))
		return
	}
	c = slices.Insert(c, i, e)
	if len(c) <= 2*rangeChunk {
		ix.chunks[ci] = c
		return
	}
	// Split in two fresh arrays (Insert grew c's past the chunk size).
	head := append(make([]rangeEntry, 0, 2*rangeChunk), c[:rangeChunk]...)
	tail := append(make([]rangeEntry, 0, 2*rangeChunk), c[rangeChunk:]...)
	ix.chunks[ci] = head
	ix.chunks = slices.Insert(ix.chunks, ci+1, tail)
}

func (ix *rangeIndex) remove(e rangeEntry) {
	if len(ix.chunks) == 0 {
		return
	}
	ci := ix.chunkFor(e)
	c := ix.chunks[ci]
	i, found := slices.BinarySearchFunc(c, e, cmpEntry)
	if !found {
		return
	}
	c = slices.Delete(c, i, i+1)
	ix.n--
	if len(c) == 0 {
		ix.chunks = slices.Delete(ix.chunks, ci, ci+1)
		return
	}
	ix.chunks[ci] = c
}

func cmpEntry(a, b rangeEntry) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// seek returns the position (chunk, offset) of the first entry with a key
// of at least key.
func (ix *rangeIndex) seek(key int64) (int, int) {
	ci := sort.Search(len(ix.chunks), func(i int) bool { c := ix.chunks[i]; return c[len(c)-1].key >= key })
	if ci == len(ix.chunks) {
		return ci, 0
	}
	c := ix.chunks[ci]
	return ci, sort.Search(len(c), func(i int) bool { return c[i].key >= key })
}

// count returns how many entries have keys in [lo, hi].
func (ix *rangeIndex) count(lo, hi int64) int {
	if lo > hi {
		return 0
	}
	c0, i0 := ix.seek(lo)
	c1, i1 := ix.seek(hi + 1) // hi < MaxInt64: see keyBounds
	if c0 == c1 {
		return i1 - i0
	}
	n := len(ix.chunks[c0]) - i0 + i1
	for c := c0 + 1; c < c1; c++ {
		n += len(ix.chunks[c])
	}
	return n
}

// each calls fn with the entries whose keys are in [lo, hi], in order,
// until fn returns false.
func (ix *rangeIndex) each(lo, hi int64, fn func(rangeEntry) bool) {
	if lo > hi {
		return
	}
	ci, i := ix.seek(lo)
	for ; ci < len(ix.chunks); ci, i = ci+1, 0 {
		for _, e := range ix.chunks[ci][i:] {
			if e.key > hi || !fn(e) {
				return
			}
		}
	}
}

// bounds returns the smallest and largest key; false when empty.
func (ix *rangeIndex) bounds() (int64, int64, bool) {
	if ix.n == 0 {
		return 0, 0, false
	}
	last := ix.chunks[len(ix.chunks)-1]
	return ix.chunks[0][0].key, last[len(last)-1].key, true
}

// rangeRecord adds o to (or removes it from) ix under the key of each
// version search may see; see rangeIndex.
func (tb *table) rangeRecord(ix *rangeIndex, o *object, add bool) {
	var cur, old int64
	var hasCur, hasOld bool
	if !o.archived {
		cur, hasCur = ix.key(o.props, o.updated)
	}
	if o.indexed != nil && !o.indexed.archived {
		old, hasOld = ix.key(o.indexed.props, o.indexed.updated)
		if hasCur && old == cur {
			hasOld = false
		}
	}
	set := func(k int64) {
		if add {
			ix.add(rangeEntry{k, o})
		} else {
			ix.remove(rangeEntry{k, o})
		}
	}
	if hasCur {
		set(cur)
	}
	if hasOld {
		set(old)
	}
}

// buildRange (re)builds prop's range index after its definition was
// added or replaced: only a datetime gets one, as only a datetime's
// values compare as instants.
func (tb *table) buildRange(prop string) {
	key, ok := rangeIndexed[prop]
	if !ok {
		return
	}
	delete(tb.ranges, prop)
	tb.rangeList = slices.DeleteFunc(tb.rangeList, func(ix *rangeIndex) bool { return ix.prop == prop })
	if !comparedAsInstant(tb.props[prop]) {
		return
	}
	ix := &rangeIndex{prop: prop, key: key}
	for _, id := range tb.order {
		tb.rangeRecord(ix, tb.byID[id], true)
	}
	tb.ranges[prop] = ix
	tb.rangeList = append(tb.rangeList, ix)
}

func comparedAsInstant(def *propertyDef) bool {
	return def != nil && (def.Type == "datetime" || def.Type == "date")
}

// keyRange is the widest [lo, hi] of keys (milliseconds, rounded down) a
// group's range and EQ filters on one datetime property allow; empty
// (lo > hi) when one of them matches nothing.
type keyRange struct {
	lo, hi int64
	used   bool // some filter narrowed it
}

// Keys stay clear of the int64 ends, so hi+1 and lo-1 never overflow.
// No instant parseInstant accepts comes near them in milliseconds.
const (
	minKey = math.MinInt64 / 2
	maxKey = math.MaxInt64 / 2
)

func fullKeyRange() keyRange { return keyRange{lo: minKey, hi: maxKey} }

// narrow intersects r with what f allows; it ignores operators other
// than the range ones and EQ.
func (r *keyRange) narrow(f *searchFilter) {
	lo, hi, hasLo, hasHi, ok, isRange := bounds(f)
	if !isRange {
		return
	}
	r.used = true
	if !ok {
		r.lo, r.hi = maxKey, minKey // the filter matches nothing
		return
	}
	if hasLo {
		r.lo = max(r.lo, clampKey(lo.at.UnixMilli()))
	}
	if hasHi {
		r.hi = min(r.hi, clampKey(hi.at.UnixMilli()))
	}
}

// bounds reads a range filter (GT, GTE, LT, LTE, BETWEEN) or an EQ as
// the bounds it sets, inclusive; ok is false when a bound it needs did
// not parse (it matches nothing), isRange false for other operators.
func bounds(f *searchFilter) (lo, hi filterBound, hasLo, hasHi, ok, isRange bool) {
	lo, hi, ok = f.value, f.value, f.value.ok
	hasLo, hasHi = true, true
	switch f.Operator {
	case "EQ":
	case "GT", "GTE":
		hasHi = false
	case "LT", "LTE":
		hasLo = false
	case "BETWEEN":
		hi, ok = f.high, ok && f.high.ok
	default:
		return lo, hi, false, false, false, false
	}
	return lo, hi, hasLo, hasHi, ok, true
}

func clampKey(k int64) int64 { return min(max(k, minKey), maxKey) }

// idRange is like keyRange for hs_object_id, compared as numbers: the
// ids x with lo ≤ x ≤ hi, bounds included, which is wider than GT or LT
// ask for and so a superset.
type idRange struct {
	lo, hi float64
	empty  bool
	used   bool
}

func fullIDRange() idRange { return idRange{lo: math.Inf(-1), hi: math.Inf(1)} }

func (r *idRange) narrow(f *searchFilter) {
	lo, hi, hasLo, hasHi, ok, isRange := bounds(f)
	if !isRange {
		return
	}
	r.used = true
	if !ok {
		r.empty = true
		return
	}
	if hasLo {
		r.lo = max(r.lo, lo.num)
	}
	if hasHi {
		r.hi = min(r.hi, hi.num)
	}
}

// slice returns the part of tb.order r allows.
func (r *idRange) slice(order []uint64) []uint64 {
	if r.empty || r.lo > r.hi {
		return nil
	}
	i := sort.Search(len(order), func(i int) bool { return float64(order[i]) >= r.lo })
	j := sort.Search(len(order), func(i int) bool { return float64(order[i]) > r.hi })
	if i >= j {
		return nil
	}
	return order[i:j]
}

// Keys of instants rendered in RFC 3339, which compare reads back: years
// 1 through 9999 (see instantBound).
var (
	firstRenderedKey = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	lastRenderedKey  = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

// ordered says whether a search can walk a range index in its sort's
// order (findOrdered): one filter group, whose fewest candidates are a
// range of hs_lastmodifieddate, sorted by hs_lastmodifieddate. Its keys
// are the modification times the sort compares, as long as every one
// renders as a time compare reads back (else the stable sort's order is
// not the keys', and find sorts).
func (tb *table) ordered(groups []filterGroup, sorts []compiledSort) (*rangeIndex, keyRange, bool) {
	const prop = "hs_lastmodifieddate"
	if len(groups) != 1 || len(sorts) == 0 || sorts[0].prop != prop {
		return nil, keyRange{}, false
	}
	ix := tb.ranges[prop]
	if ix == nil {
		return nil, keyRange{}, false
	}
	if lo, hi, ok := ix.bounds(); ok && (lo < firstRenderedKey || hi > lastRenderedKey) {
		return nil, keyRange{}, false
	}
	nw, ok := tb.narrowing(&groups[0])
	if !ok || nw.ix != ix {
		return nil, keyRange{}, false
	}
	return ix, nw.r, true
}
