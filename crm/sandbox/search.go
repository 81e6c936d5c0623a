package sandbox

import (
	"cmp"
	"encoding/json"
	"math"
	"net/http"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Search limits (hubspot-api.md §4): the strictest current documentation
// is five filter groups, six filters per group, eighteen in all; a page
// holds at most 200 results and no query pages past 10,000.
const (
	maxFilterGroups  = 5
	maxGroupFilters  = 6
	maxTotalFilters  = 18
	maxSearchLimit   = 200
	maxSearchResults = 10000
	maxInValues      = 100
)

var operators = map[string]bool{"EQ": true, "NEQ": true, "LT": true, "LTE": true, "GT": true, "GTE": true,
	"BETWEEN": true, "IN": true, "NOT_IN": true, "HAS_PROPERTY": true, "NOT_HAS_PROPERTY": true,
	"CONTAINS_TOKEN": true, "NOT_CONTAINS_TOKEN": true}

type compiledSort struct {
	prop string
	desc bool
}

func parseSorts(raw []json.RawMessage) ([]compiledSort, *apiError) {
	if len(raw) > 1 {
		return nil, badRequest("Only one sort is supported, got %d", len(raw))
	}
	var out []compiledSort
	for _, m := range raw {
		var str string
		if json.Unmarshal(m, &str) == nil {
			// The spec types sorts as strings: "prop" or "-prop".
			desc := strings.HasPrefix(str, "-")
			out = append(out, compiledSort{prop: strings.TrimPrefix(str, "-"), desc: desc})
			continue
		}
		var ss searchSort
		if err := json.Unmarshal(m, &ss); err != nil || ss.PropertyName == "" {
			return nil, badRequest("Invalid sort %s: want {\"propertyName\":…,\"direction\":\"ASCENDING\"|\"DESCENDING\"}", m)
		}
		switch strings.ToUpper(ss.Direction) {
		case "", "ASCENDING":
		case "DESCENDING":
			out = append(out, compiledSort{prop: ss.PropertyName, desc: true})
			continue
		default:
			return nil, badRequest("Invalid sort direction %q", ss.Direction)
		}
		out = append(out, compiledSort{prop: ss.PropertyName})
	}
	return out, nil
}

func parseAfter(raw json.RawMessage) (int, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, badRequest("Invalid after %s", raw)
	}
	str := scalarString(v)
	if str == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(str)
	if err != nil || n < 0 {
		return 0, badRequest("Invalid after %q: want a numeric offset", str)
	}
	return n, nil
}

// validateFilters checks counts and operator arguments, filling values.
func (tb *table) validateFilters(groups []filterGroup) *apiError {
	if len(groups) > maxFilterGroups {
		return badRequest("Too many filter groups: %d. The maximum is %d", len(groups), maxFilterGroups)
	}
	total := 0
	for gi := range groups {
		fs := groups[gi].Filters
		if len(fs) > maxGroupFilters {
			return badRequest("Too many filters in filter group %d: %d. The maximum is %d per group", gi, len(fs), maxGroupFilters)
		}
		total += len(fs)
		for fi := range fs {
			f := &fs[fi]
			f.Operator = strings.ToUpper(f.Operator)
			if !operators[f.Operator] {
				return badRequest("Invalid operator %q for property %s", f.Operator, f.PropertyName)
			}
			if _, ok := tb.props[f.PropertyName]; !ok {
				return badRequest("Property \"%s\" does not exist", f.PropertyName)
			}
			switch f.Operator {
			case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
				if f.Value != nil || f.Values != nil {
					// appsmith#39865: HubSpot rejects a value here.
					return badRequest("Operator %s does not take a value (property %s)", f.Operator, f.PropertyName)
				}
			case "IN", "NOT_IN":
				if len(f.Values) == 0 {
					return badRequest("Operator %s requires values (property %s)", f.Operator, f.PropertyName)
				}
				if len(f.Values) > maxInValues {
					return badRequest("Operator %s takes at most %d values, got %d (property %s)", f.Operator, maxInValues, len(f.Values), f.PropertyName)
				}
				f.values = make([]string, len(f.Values))
				for i, v := range f.Values {
					f.values[i] = scalarString(v) // compare folds case where it applies
				}
				if comparedAsText(tb.props[f.PropertyName]) {
					f.folded = make(map[string]bool, len(f.values))
					for _, v := range f.values {
						f.folded[strings.ToLower(v)] = true
					}
				}
			case "BETWEEN":
				if f.Value == nil || f.HighValue == nil {
					return badRequest("Operator BETWEEN requires value and highValue (property %s)", f.PropertyName)
				}
			default:
				if f.Value == nil {
					return badRequest("Operator %s requires a value (property %s)", f.Operator, f.PropertyName)
				}
			}
			if def := tb.props[f.PropertyName]; !comparedAsText(def) {
				f.value = parseBound(def, scalarString(f.Value))
				f.high = parseBound(def, scalarString(f.HighValue))
				f.compiled, f.def = true, def
			}
		}
	}
	if total > maxTotalFilters {
		return badRequest("Too many filters: %d. The maximum is %d across all filter groups", total, maxTotalFilters)
	}
	return nil
}

// comparedAsText says whether compare orders a property's values as
// case-insensitive text.
func comparedAsText(def *propertyDef) bool {
	switch def.Type {
	case "number", "datetime", "date":
		return false
	}
	return true
}

// compare orders a stored value against a filter value by the property's
// type: numbers numerically, datetimes as instants (epoch ms or ISO on
// either side), everything else case-insensitively.
func compare(def *propertyDef, stored, filter string) (int, bool) {
	switch def.Type {
	case "number":
		a, ok1 := parseNumber(stored)
		b, ok2 := parseNumber(filter)
		if !ok1 || !ok2 {
			return 0, false
		}
		return cmp.Compare(a, b), true
	case "datetime", "date":
		a, ok1 := parseInstant(stored)
		b, ok2 := parseInstant(filter)
		if !ok1 || !ok2 {
			return 0, false
		}
		return a.Compare(b), true
	}
	return strings.Compare(strings.ToLower(stored), strings.ToLower(filter)), true
}

// parseBound reads a value of a number or datetime property as compare
// reads either side.
func parseBound(def *propertyDef, s string) filterBound {
	if def.Type == "number" {
		x, ok := parseNumber(s)
		return filterBound{ok: ok, num: x}
	}
	t, ok := parseInstant(s)
	return filterBound{ok: ok, at: t}
}

// compare is compare's answer for two values read by parseBound for def.
func (a filterBound) compare(def *propertyDef, b filterBound) (int, bool) {
	if !a.ok || !b.ok {
		return 0, false
	}
	if def.Type == "number" {
		return cmp.Compare(a.num, b.num), true
	}
	return a.at.Compare(b.at), true
}

// instantBound reads a system datetime (a record's creation or
// modification time) as compare reads what systemValue renders of it:
// formatTime keeps whole milliseconds, and parseInstant reads back only
// the years 0–9999 it renders in RFC 3339 (the fast path takes 1–9999).
func instantBound(t time.Time) (filterBound, bool) {
	ms := t.UnixMilli()
	if ms < firstRenderedKey || ms > lastRenderedKey {
		return filterBound{}, false
	}
	return filterBound{ok: true, at: time.UnixMilli(ms)}, true
}

// parseNumber reads a number property's value or a filter's: a finite
// float. ParseFloat also accepts NaN and the infinities (in any case,
// "Inf", "+Infinity"…); they are not numbers a record can hold, so a
// filter naming one is answered as one naming "abc" is: it matches
// nothing, and its negations (NEQ, NOT_IN) match everything.
func parseNumber(s string) (float64, bool) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '*' && r != '@' && r != '.' && r != '+' && r != '_' && r != '-'
	})
}

// containsToken matches a whole token of the value, with * as wildcard.
func containsToken(stored, want string) bool {
	want = strings.ToLower(strings.TrimSpace(want))
	for _, t := range append(tokens(stored), strings.ToLower(stored)) {
		if ok, _ := path.Match(want, t); ok || t == want {
			return true
		}
	}
	return false
}

// matchFilter says whether a record's version (props, updated) matches
// f. A comparison on a number or datetime uses the values validateFilters
// read once, and reads the record's value without rendering a system
// one; everything else, and anything the shortcut cannot read as
// matchFilterText would, is matchFilterText's answer.
func (tb *table) matchFilter(f *searchFilter, o *object, props map[string]string, updated time.Time) bool {
	if !f.compiled {
		return tb.matchFilterText(f, o, props, updated)
	}
	switch f.Operator {
	case "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN":
	default:
		return tb.matchFilterText(f, o, props, updated)
	}
	def := f.def
	var v filterBound
	switch name := f.PropertyName; {
	case name == "hs_object_id" && def.Type == "number":
		// idString's digits parse to float64(id) exactly as ParseFloat
		// rounds them.
		v = filterBound{ok: true, num: float64(o.id)}
	case (name == "hs_lastmodifieddate" || name == "hs_createdate") && comparedAsInstant(def):
		t := updated
		if name == "hs_createdate" {
			t = o.created
		}
		var ok bool
		if v, ok = instantBound(t); !ok {
			return tb.matchFilterText(f, o, props, updated)
		}
	default:
		if _, system := tb.systemValue(o, updated, name); system {
			return tb.matchFilterText(f, o, props, updated)
		}
		s, has := props[name]
		if !has {
			return f.Operator == "NEQ"
		}
		v = parseBound(def, s)
	}
	c, ok := v.compare(def, f.value)
	switch f.Operator {
	case "EQ":
		return ok && c == 0
	case "NEQ":
		return !ok || c != 0
	case "LT":
		return ok && c < 0
	case "LTE":
		return ok && c <= 0
	case "GT":
		return ok && c > 0
	case "GTE":
		return ok && c >= 0
	}
	hi, hok := v.compare(def, f.high) // BETWEEN
	return ok && hok && c >= 0 && hi <= 0
}

// matchFilterText is matchFilter on the values as the wire shows them:
// system values rendered by systemValue, both sides compared by compare.
// It is the definition the shortcuts are held to (the scan in tests).
func (tb *table) matchFilterText(f *searchFilter, o *object, props map[string]string, updated time.Time) bool {
	def := tb.props[f.PropertyName]
	v, has := tb.systemValue(o, updated, f.PropertyName)
	if !has {
		v, has = props[f.PropertyName]
	}
	switch f.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "IN", "NOT_IN":
		in := false
		switch {
		case has && f.folded != nil:
			in = f.folded[strings.ToLower(v)]
		case has:
			for _, x := range f.values {
				if c, ok := compare(def, v, x); ok && c == 0 {
					in = true
					break
				}
			}
		}
		return in == (f.Operator == "IN")
	case "CONTAINS_TOKEN":
		return has && containsToken(v, scalarString(f.Value))
	case "NOT_CONTAINS_TOKEN":
		return !has || !containsToken(v, scalarString(f.Value))
	case "NEQ":
		if !has {
			return true
		}
		c, ok := compare(def, v, scalarString(f.Value))
		return !ok || c != 0
	}
	if !has {
		return false
	}
	c, ok := compare(def, v, scalarString(f.Value))
	if !ok {
		return false
	}
	switch f.Operator {
	case "EQ":
		return c == 0
	case "LT":
		return c < 0
	case "LTE":
		return c <= 0
	case "GT":
		return c > 0
	case "GTE":
		return c >= 0
	case "BETWEEN":
		hi, ok := compare(def, v, scalarString(f.HighValue))
		return ok && c >= 0 && hi <= 0
	}
	return false
}

type hit struct {
	o       *object
	props   map[string]string
	updated time.Time
}

// search serves POST /crm/v3/objects/{type}/search. It sees records only
// once their last write is older than the index lag, and then the version
// indexed (see store.searchable). Archived records drop out. Without a
// sort, results come in ascending id order, i.e. creation order (HubSpot
// does not document its default order).
func (s *Server) search(r *http.Request) result {
	var req searchRequest
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	limit := 10
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 || limit > maxSearchLimit {
		return fail(badRequest("limit must be between 1 and %d, got %d", maxSearchLimit, limit))
	}
	offset, e := parseAfter(req.After)
	if e != nil {
		return fail(e)
	}
	if offset >= maxSearchResults {
		return fail(badRequest("The search endpoints are limited to %d total results for any given query; after=%d pages past that", maxSearchResults, offset))
	}
	if len(req.Query) > 3000 {
		return fail(badRequest("query is longer than 3000 characters"))
	}
	sorts, e := parseSorts(req.Sorts)
	if e != nil {
		return fail(e)
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	if e := tb.validateFilters(req.FilterGroups); e != nil {
		return fail(e)
	}
	for _, so := range sorts {
		if _, ok := tb.props[so.prop]; !ok {
			return fail(badRequest("Property \"%s\" does not exist", so.prop))
		}
	}
	query := strings.ToLower(strings.TrimSpace(req.Query))
	hits, total := s.st.find(tb, req.FilterGroups, query, sorts, now, offset, limit)
	res := collectionResponse{Total: &total, Results: []publicObject{}}
	want := req.Properties
	if len(want) == 0 {
		want = nil
	}
	for _, h := range hits {
		view := *h.o
		view.props, view.updated, view.archived, view.assoc = h.props, h.updated, false, nil
		res.Results = append(res.Results, tb.render(&view, want, false, nil))
	}
	if end := offset + len(hits); end < total {
		// Offered even at 10,000: the next request gets the 400, as HubSpot's.
		res.Paging = &paging{Next: nextPage{After: strconv.Itoa(end)}}
	}
	return respond(http.StatusOK, res)
}

// find answers a search at now: the hits from offset on, at most limit
// of them, in the order of sorts, and how many hits there are in all.
// It is the scan over tb.order followed by a stable sort (see findScan),
// made cheaper where it can: candidates from the indexes (table.candidates,
// table.ordered), sorted from keys read once (sortHits), or not sorted at
// all when the candidates already come in the answer's order.
func (st *store) find(tb *table, groups []filterGroup, query string, sorts []compiledSort, now time.Time, offset, limit int) ([]hit, int) {
	if ix, r, ok := tb.ordered(groups, sorts); ok {
		return st.findOrdered(tb, ix, r, groups, query, sorts[0].desc, now, offset, limit)
	}
	hits := st.matches(tb, groups, query, now, false)
	tb.sortHits(hits, sorts)
	return window(hits, offset, limit), len(hits)
}

// findScan is find's definition: every record matched by
// matchFilterText, then sortHitsText. Tests hold find to it.
func (st *store) findScan(tb *table, groups []filterGroup, query string, sorts []compiledSort, now time.Time, offset, limit int) ([]hit, int) {
	hits := st.matches(tb, groups, query, now, true)
	tb.sortHitsText(hits, sorts)
	return window(hits, offset, limit), len(hits)
}

func window(hits []hit, offset, limit int) []hit {
	if offset >= len(hits) {
		return nil
	}
	return hits[offset:min(offset+limit, len(hits))]
}

// findOrdered answers a search of one filter group sorted by the
// property of the range index ix, walking the keys in r (see
// table.ordered). A record is looked at once, at the entry of the version
// search sees now; the entries come ordered by (key, id), the stable sort
// of hits in id order by that key, so nothing is sorted. Descending
// reverses the order but not that of ids within a key, as the stable sort
// keeps ties in id order.
func (st *store) findOrdered(tb *table, ix *rangeIndex, r keyRange, groups []filterGroup, query string, desc bool, now time.Time, offset, limit int) ([]hit, int) {
	var hits []hit
	var keys []int64 // desc: each hit's key
	total := 0
	ix.each(r.lo, r.hi, func(e rangeEntry) bool {
		o := e.o
		props, updated, visible := st.searchable(o, now)
		if !visible {
			return true
		}
		if k, ok := ix.key(props, updated); !ok || k != e.key {
			return true // the other version's entry
		}
		if !tb.matchGroups(groups, o, props, updated, false) || query != "" && !tb.matchQuery(query, props) {
			return true
		}
		if desc {
			hits, keys = append(hits, hit{o: o, props: props, updated: updated}), append(keys, e.key)
		} else if total >= offset && total < offset+limit {
			hits = append(hits, hit{o: o, props: props, updated: updated})
		}
		total++
		return true
	})
	if !desc {
		return hits, total
	}
	slices.Reverse(hits)
	slices.Reverse(keys)
	for i := 0; i < len(hits); {
		j := i + 1
		for j < len(hits) && keys[j] == keys[i] {
			j++
		}
		slices.Reverse(hits[i:j])
		i = j
	}
	return window(hits, offset, limit), total
}

// matches returns the records search sees at now that match groups and
// query, in tb.order's order. It looks at the candidates the indexes
// name when it can (see table.candidates), else at every record; scan
// forces the latter and matches with matchFilterText, for tests that hold
// the two to each other.
func (st *store) matches(tb *table, groups []filterGroup, query string, now time.Time, scan bool) []hit {
	ids, narrowed := []uint64(nil), false
	if !scan {
		ids, narrowed = tb.candidates(groups)
	}
	if !narrowed {
		ids = tb.order
	}
	var hits []hit
	for _, id := range ids {
		o := tb.byID[id]
		props, updated, visible := st.searchable(o, now)
		if !visible {
			continue
		}
		if !tb.matchGroups(groups, o, props, updated, scan) {
			continue
		}
		if query != "" && !tb.matchQuery(query, props) {
			continue
		}
		hits = append(hits, hit{o: o, props: props, updated: updated})
	}
	return hits
}

// sortHits orders hits, which come in ascending id order, as sortHitsText
// does: it reads each hit's sort value once rather than at every
// comparison and gives sort.SliceStable the same answers, so even values
// compare cannot order (equal to everything) end up where they would.
// Sorting by hs_object_id keeps the order or reverses it.
func (tb *table) sortHits(hits []hit, sorts []compiledSort) {
	if len(sorts) == 0 || len(hits) < 2 {
		return
	}
	so := sorts[0]
	def := tb.props[so.prop]
	if so.prop == "hs_object_id" && def.Type == "number" && hits[len(hits)-1].o.id < 1<<53 {
		// Ids are distinct and set, and below 2^53 exact as numbers.
		if so.desc {
			slices.Reverse(hits)
		}
		return
	}
	type keyed struct {
		has  bool
		v    filterBound
		text string
		h    hit
	}
	ks := make([]keyed, len(hits))
	for i, h := range hits {
		k := keyed{h: h}
		var s string
		if s, k.has = tb.hitValue(h, so.prop); k.has {
			if comparedAsText(def) {
				k.text = strings.ToLower(s)
			} else {
				k.v = parseBound(def, s)
			}
		}
		ks[i] = k
	}
	text := comparedAsText(def)
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := &ks[i], &ks[j]
		if !a.has || !b.has {
			return a.has && !b.has // unset values last
		}
		var c int
		if text {
			c = strings.Compare(a.text, b.text)
		} else {
			c, _ = a.v.compare(def, b.v)
		}
		if so.desc {
			return c > 0
		}
		return c < 0
	})
	for i := range ks {
		hits[i] = ks[i].h
	}
}

// sortHitsText orders hits by the first sort, stably, unset values last,
// comparing the values as the wire shows them: sortHits's definition.
func (tb *table) sortHitsText(hits []hit, sorts []compiledSort) {
	if len(sorts) == 0 {
		return
	}
	so := sorts[0]
	def := tb.props[so.prop]
	sort.SliceStable(hits, func(i, j int) bool {
		a, aok := tb.hitValue(hits[i], so.prop)
		b, bok := tb.hitValue(hits[j], so.prop)
		if !aok || !bok {
			return aok && !bok // unset values last
		}
		c, _ := compare(def, a, b)
		if so.desc {
			return c > 0
		}
		return c < 0
	})
}

func (tb *table) hitValue(h hit, prop string) (string, bool) {
	if v, ok := tb.systemValue(h.o, h.updated, prop); ok {
		return v, true
	}
	v, ok := h.props[prop]
	return v, ok
}

// matchGroups says whether a record's version matches any group; text
// matches with matchFilterText.
func (tb *table) matchGroups(groups []filterGroup, o *object, props map[string]string, updated time.Time, text bool) bool {
	if len(groups) == 0 {
		return true
	}
	match := tb.matchFilter
	if text {
		match = tb.matchFilterText
	}
	for gi := range groups {
		all := true
		for fi := range groups[gi].Filters {
			if !match(&groups[gi].Filters[fi], o, props, updated) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// matchQuery is the free-text "query": every word must start a token of
// one of the type's searchable properties.
func (tb *table) matchQuery(query string, props map[string]string) bool {
	for _, w := range strings.Fields(query) {
		found := false
		for _, p := range tb.typ.searchable {
			v, ok := props[p]
			if !ok {
				continue
			}
			lv := strings.ToLower(v)
			if strings.HasPrefix(lv, w) {
				found = true
				break
			}
			for _, t := range tokens(v) {
				if strings.HasPrefix(t, w) {
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
