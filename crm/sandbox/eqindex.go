package sandbox

import (
	"math"
	"slices"
	"strings"
	"time"
)

// The equality index narrows a search to candidate records; it never
// decides a match. Every candidate still goes through searchable,
// matchGroups and matchQuery, so a search answers exactly what the full
// scan over tb.order answers: the index only has to hold a superset.
//
// It covers the properties matchFilter compares as case-insensitive text
// (strings, enumerations, booleans), keyed by strings.ToLower of the
// value, the same folding matchFilter applies to both sides of EQ and IN.
// It leaves out properties systemValue answers (their stored value is
// never compared) and long free text (textarea, html fields such as
// hs_communication_body), which nobody looks up by equality and which
// would cost a copy of every body.
//
// A record is indexed under the values of its current properties unless
// it is archived, and under those of the older version search may still
// see while a write is inside the index lag (object.indexed) unless that
// version was archived, until the first write after the lag sweeps that
// version away (store.sweep). A value more than eqCap records hold keeps only a
// count: it is too common to narrow a search, which then scans.
//
// Memory: a value held by one record costs one entry of eqIndex.one (the
// value's string header and an id, plus the map's slack); the string
// itself is shared with the record when it is already lower case, as
// commlog keys are, and is a lowered copy otherwise. A value held by
// 2..eqCap records costs a posting and 8 bytes per record; a value past
// eqCap costs one posting however many records hold it. Measured with a
// million communications carrying commlog_key: 598 → 654 heap bytes per
// record, so about 56 bytes per record for the key; the enumerations
// (channel type, logged from) are past eqCap and cost next to nothing.
type eqIndex struct {
	prop string
	one  map[string]uint64   // folded value → the only record holding it
	many map[string]*posting // folded value → records, when more than one
	// lastRaw and lastKey remember the last value folded: enumerations
	// repeat one value record after record, and a write then folds it
	// without allocating. Only writers (holding the server's write lock)
	// touch them.
	lastRaw, lastKey string
}

type posting struct {
	n   int      // records holding the value
	ids []uint64 // ascending; nil once n passed eqCap, until n is back to 0 (the ids are gone)
}

// defaultEqCap bounds a posting: a search's candidates are at most
// 5 groups × 100 values × eqCap, and a common value is better scanned.
const defaultEqCap = 1000

func newEqIndex(prop string) *eqIndex {
	return &eqIndex{prop: prop, one: map[string]uint64{}, many: map[string]*posting{}}
}

// fold is strings.ToLower, remembering the last answer.
func (ix *eqIndex) fold(v string) string {
	if v != ix.lastRaw {
		ix.lastRaw, ix.lastKey = v, strings.ToLower(v)
	}
	return ix.lastKey
}

func (ix *eqIndex) add(key string, id uint64, limit int) {
	if p := ix.many[key]; p != nil {
		p.n++
		switch {
		case p.ids == nil:
		case p.n > limit:
			p.ids = nil
		case p.ids[len(p.ids)-1] < id: // creates come in id order
			p.ids = append(p.ids, id)
		default:
			if i, found := slices.BinarySearch(p.ids, id); !found {
				p.ids = slices.Insert(p.ids, i, id)
			}
		}
		return
	}
	first, ok := ix.one[key]
	if !ok {
		ix.one[key] = id
		return
	}
	delete(ix.one, key)
	p := &posting{n: 2}
	if limit >= 2 {
		p.ids = []uint64{min(first, id), max(first, id)}
	}
	ix.many[key] = p
}

func (ix *eqIndex) remove(key string, id uint64) {
	p := ix.many[key]
	if p == nil {
		if got, ok := ix.one[key]; ok && got == id {
			delete(ix.one, key)
		}
		return
	}
	p.n--
	if p.ids != nil {
		if i, found := slices.BinarySearch(p.ids, id); found {
			p.ids = slices.Delete(p.ids, i, i+1)
		}
	}
	switch {
	case p.n <= 0:
		delete(ix.many, key)
	case p.n == 1 && len(p.ids) == 1:
		delete(ix.many, key)
		ix.one[key] = p.ids[0]
	}
}

// appendIDs appends the records holding key; false when key is too
// common to narrow a search.
func (ix *eqIndex) appendIDs(dst []uint64, key string) ([]uint64, bool) {
	if p := ix.many[key]; p != nil {
		if p.ids == nil {
			return dst, false
		}
		return append(dst, p.ids...), true
	}
	if id, ok := ix.one[key]; ok {
		return append(dst, id), true
	}
	return dst, true
}

// eqIndexed says whether def gets an equality index. Call it once def is
// in tb.props: systemValue only answers defined properties.
func (tb *table) eqIndexed(def *propertyDef) bool {
	if _, system := tb.systemValue(&object{}, time.Time{}, def.Name); system {
		return false
	}
	switch def.FieldType {
	case "textarea", "html":
		return false
	}
	return comparedAsText(def)
}

// buildEq (re)builds the equality index of prop after its definition
// was added or replaced.
func (tb *table) buildEq(prop string) {
	delete(tb.eq, prop)
	tb.eqs = slices.DeleteFunc(tb.eqs, func(ix *eqIndex) bool { return ix.prop == prop })
	if !tb.eqIndexed(tb.props[prop]) {
		return
	}
	ix := newEqIndex(prop)
	for _, id := range tb.order {
		tb.eqRecord(ix, tb.byID[id], true)
	}
	tb.eq[prop] = ix
	tb.eqs = append(tb.eqs, ix)
}

// eqRecord adds o to (or removes it from) prop's index under each value
// search may compare: see eqIndex. index and unindex bracket every change
// to o.props, o.archived and o.indexed, so removal sees what adding saw.
func (tb *table) eqRecord(ix *eqIndex, o *object, add bool) {
	var cur, old string
	var hasCur, hasOld bool
	if !o.archived {
		cur, hasCur = o.props[ix.prop]
	}
	if o.indexed != nil && !o.indexed.archived {
		old, hasOld = o.indexed.props[ix.prop]
	}
	if hasCur {
		cur = ix.fold(cur)
	}
	if hasOld {
		old = ix.fold(old)
		if hasCur && old == cur {
			hasOld = false
		}
	}
	set := func(v string) {
		if add {
			ix.add(v, o.id, tb.eqCap)
		} else {
			ix.remove(v, o.id)
		}
	}
	if hasCur {
		set(cur)
	}
	if hasOld {
		set(old)
	}
}

// eqRecords adds o to (or removes it from) every equality index.
func (tb *table) eqRecords(o *object, add bool) {
	for _, ix := range tb.eqs {
		tb.eqRecord(ix, o, add)
	}
}

// candidates returns, ascending (tb.order's order), the ids of the
// records that can match groups; false when some group cannot be
// narrowed by a filter the indexes answer (EQ or IN with the equality
// index or on hs_object_id, a range or EQ on hs_object_id or a property
// with a range index), or when so many records qualify that the scan is
// cheaper. Groups are ORed, so the candidates are the union of each
// group's; within a group the filters are ANDed, so one filter's records
// (or one property's range) are enough, and the fewest win. A single
// group narrowed by an hs_object_id range answers a part of tb.order,
// which the caller must not change.
func (tb *table) candidates(groups []filterGroup) ([]uint64, bool) {
	if len(groups) == 0 {
		return nil, false
	}
	var ids []uint64
	for gi := range groups {
		nw, ok := tb.narrowing(&groups[gi])
		if !ok {
			return nil, false
		}
		if nw.ix == nil && len(groups) == 1 && nw.sorted {
			return nw.ids, true
		}
		if len(ids)+nw.n > len(tb.order)/2 {
			return nil, false
		}
		if nw.ix != nil {
			nw.ix.each(nw.r.lo, nw.r.hi, func(e rangeEntry) bool { ids = append(ids, e.o.id); return true })
		} else {
			ids = append(ids, nw.ids...)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), true
}

// narrowed is one group's fewest candidates: ids, or the entries of a
// range index ix with keys in r.
type narrowed struct {
	n      int // how many ids or entries (a record may have two)
	ids    []uint64
	sorted bool // ids ascend without repeats
	ix     *rangeIndex
	r      keyRange
}

// narrowing returns the fewest candidates the indexes give for g; false
// when no filter of g narrows.
func (tb *table) narrowing(g *filterGroup) (narrowed, bool) {
	var best narrowed
	found := false
	offer := func(nw narrowed) {
		if !found || nw.n < best.n {
			best, found = nw, true
		}
	}
	for fi := range g.Filters {
		if got, ok := tb.filterCandidates(&g.Filters[fi]); ok {
			offer(narrowed{n: len(got), ids: got})
		}
	}
	if def := tb.props["hs_object_id"]; def != nil && def.Type == "number" {
		r := fullIDRange()
		for fi := range g.Filters {
			if f := &g.Filters[fi]; f.PropertyName == "hs_object_id" && f.compiled {
				r.narrow(f)
			}
		}
		if r.used {
			ids := r.slice(tb.order)
			offer(narrowed{n: len(ids), ids: ids, sorted: true})
		}
	}
	for _, ix := range tb.rangeList {
		if r, ok := keyRangeOf(g, ix.prop); ok {
			offer(narrowed{n: ix.count(r.lo, r.hi), ix: ix, r: r})
		}
	}
	return best, found
}

// keyRangeOf is the keys g's range and EQ filters on prop allow; false
// when none names prop.
func keyRangeOf(g *filterGroup, prop string) (keyRange, bool) {
	r := fullKeyRange()
	for fi := range g.Filters {
		if f := &g.Filters[fi]; f.PropertyName == prop && f.compiled {
			r.narrow(f)
		}
	}
	return r, r.used
}

// filterCandidates returns the records f can match, in no order, with
// repeats; false when the index cannot say.
func (tb *table) filterCandidates(f *searchFilter) ([]uint64, bool) {
	if f.PropertyName == "hs_object_id" {
		return tb.idCandidates(f)
	}
	ix := tb.eq[f.PropertyName]
	if ix == nil {
		return nil, false
	}
	switch f.Operator {
	case "EQ":
		return ix.appendIDs(nil, strings.ToLower(scalarString(f.Value)))
	case "IN":
		if f.folded == nil {
			return nil, false // validateFilters folds every indexed property's values
		}
		var out []uint64
		for v := range f.folded {
			var ok bool
			if out, ok = ix.appendIDs(out, v); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// idCandidates answers EQ and IN on hs_object_id from tb.byID.
// matchFilter compares it as a number (parseNumber on both sides); ids
// stay far below 2^53, so a record matches exactly when the filter value
// parses to its id. A value that is not a whole number (NaN and the
// infinities included) matches no record.
func (tb *table) idCandidates(f *searchFilter) ([]uint64, bool) {
	var vals []string
	switch f.Operator {
	case "EQ":
		vals = []string{scalarString(f.Value)}
	case "IN":
		vals = f.values
	default:
		return nil, false
	}
	var out []uint64
	for _, v := range vals {
		x, ok := parseNumber(v)
		if ok && x >= 0 && x < 1<<53 && x == math.Trunc(x) {
			if id := uint64(x); tb.byID[id] != nil {
				out = append(out, id)
			}
		}
	}
	return out, true
}
