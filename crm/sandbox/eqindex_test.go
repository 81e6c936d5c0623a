package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Value pools: case variants (ASCII and not), values that are equal as
// numbers but not as text, and values no record holds.
var (
	eqKeys     = []string{"a", "A", "b", "B", "ab", "Ab", "ä", "Ä", "İ", "i̇", "k1", "K1"}
	eqChannels = []string{"WHATS_APP", "whats_app", "SMS", "LINKEDIN_MESSAGE"}
	eqOwners   = []string{"1", "01", "2", "75000001"}
	eqFlags    = []string{"true", "TRUE", "false"}
	eqBodies   = []string{"hello world", "Hello", "bye now", "HELLO-world"}
	eqNumbers  = []string{"1", "1.0", "2", "10"}
	eqStamps   = []string{"1714557600000", "1714557601000", "2024-05-01T10:00:02Z", "2024-05-01T10:00:01.0005Z",
		"2024-05-01T10:00:01.001Z", "1714557601001", "2024-05-01", "0", "-5", "not a time"}
	eqMissing = []string{"", "zz", "A ", "AB", "whats app"}
)

// diffWorld drives random writes into a store and holds its indexed
// search to the full scan, and its equality index to one built from
// scratch.
type diffWorld struct {
	t   *testing.T
	r   *rand.Rand
	clk *clock
	st  *store
	// mirror replays st's write-ahead-log operations (as JSON, like the
	// log on disk), so replayed puts over existing records are checked too.
	mirror *store
	pools  map[string][]string
	// narrowed and scanned count searches by path, so the test cannot
	// pass by scanning every time.
	narrowed, scanned int
	narrowedHits      int // narrowed searches that found records
	// ranged counts searches whose candidates came from a range (an
	// hs_object_id slice or a range index), ordered those find walked
	// in their sort's order, orderedHits those of them that found records.
	ranged, ordered, orderedHits int
}

func newDiffWorld(t *testing.T, seed uint64, lag time.Duration, eqCap int) *diffWorld {
	w := &diffWorld{t: t, r: rand.New(rand.NewPCG(seed, seed^0x5eed)), clk: newClock()}
	w.st = newStore(w.clk.Now, lag)
	w.mirror = newStore(w.clk.Now, lag)
	w.pools = map[string][]string{
		"commlog_key": eqKeys, "hs_communication_channel_type": eqChannels, "hubspot_owner_id": eqOwners,
		"flag": eqFlags, "hs_communication_body": eqBodies, "n": eqNumbers, "hs_timestamp": eqStamps,
	}
	for _, st := range []*store{w.st, w.mirror} {
		tb := st.table("communications")
		tb.eqCap = eqCap
	}
	tb := w.st.table("communications")
	group := tb.groupOrder[0]
	for _, p := range []propertyDef{
		{Name: "commlog_key", Type: "string", FieldType: "text", GroupName: group},
		{Name: "flag", Type: "bool", FieldType: "booleancheckbox", GroupName: group},
		{Name: "n", Type: "number", FieldType: "number", GroupName: group},
	} {
		tb.addProp(p)
		w.st.pending = append(w.st.pending, walOp{Op: "prop", T: tb.typ.name, Prop: &p})
	}
	w.replay()
	return w
}

func (w *diffWorld) tb() *table { return w.st.table("communications") }

func (w *diffWorld) pick(vals []string) string { return vals[w.r.IntN(len(vals))] }

// replay applies st's pending operations to the mirror.
func (w *diffWorld) replay() {
	for _, op := range w.st.pending {
		raw, err := json.Marshal(op)
		if err != nil {
			w.t.Fatal(err)
		}
		var back walOp
		if err := json.Unmarshal(raw, &back); err != nil {
			w.t.Fatal(err)
		}
		w.mirror.apply(back)
	}
	w.st.pending = w.st.pending[:0]
}

func (w *diffWorld) randomProps(n int) map[string]string {
	props := map[string]string{}
	names := []string{"commlog_key", "hs_communication_channel_type", "hubspot_owner_id", "flag", "hs_communication_body", "n", "hs_timestamp"}
	for range n {
		name := w.pick(names)
		if w.r.IntN(6) == 0 {
			props[name] = "" // create drops it, update clears it
		} else {
			props[name] = w.pick(w.pools[name])
		}
	}
	return props
}

func (w *diffWorld) live() []*object {
	var out []*object
	for _, id := range w.tb().order {
		if o := w.tb().byID[id]; !o.archived {
			out = append(out, o)
		}
	}
	return out
}

// step makes one random write or moves the clock.
func (w *diffWorld) step() {
	tb := w.tb()
	live := w.live()
	switch n := w.r.IntN(10); {
	case n < 4 || len(live) == 0:
		w.st.create(tb, w.randomProps(1+w.r.IntN(5)))
	case n < 7:
		w.st.update(tb, live[w.r.IntN(len(live))], w.randomProps(1+w.r.IntN(3)))
	case n < 8:
		w.st.archive(tb, live[w.r.IntN(len(live))])
	default:
		lag := w.st.lag
		w.clk.Add([]time.Duration{0, time.Millisecond, 3 * time.Millisecond, lag / 2, lag, 2 * lag}[w.r.IntN(6)])
		w.replay()
		return
	}
	w.checkNoDeadViews()
	w.replay()
}

// checkNoDeadViews holds a write's sweep to its definition: right after
// a write, no record keeps an older view search can no longer see.
func (w *diffWorld) checkNoDeadViews() {
	w.t.Helper()
	now := w.clk.Now()
	for _, o := range w.tb().byID {
		if o.indexed != nil && !now.Before(o.updated.Add(w.st.lag)) {
			w.t.Fatalf("record %d keeps its older view %v after the lag (written %v, now %v)", o.id, o.indexed.props, o.updated, now)
		}
	}
}

func (w *diffWorld) filterValue(prop string) string {
	tb := w.tb()
	// at is an instant near a record's: its modification time (either
	// version), a millisecond or half of one either side, in any form.
	at := func(t time.Time) string {
		t = t.Add([]time.Duration{0, 0, time.Millisecond, -time.Millisecond, 500 * time.Microsecond, -500 * time.Microsecond}[w.r.IntN(6)])
		switch w.r.IntN(3) {
		case 0:
			return strconv.FormatInt(t.UnixMilli(), 10)
		case 1:
			return formatTime(t)
		}
		return t.Format(time.RFC3339Nano)
	}
	switch prop {
	case "hs_object_id":
		if len(tb.order) > 0 && w.r.IntN(3) > 0 {
			id := tb.order[w.r.IntN(len(tb.order))]
			s := idString(id)
			return w.pick([]string{s, s, s + ".0", s + "1", s + ".5", idString(id - 1), idString(id + 1)})
		}
		return w.pick([]string{"NaN", "abc", "-1", "5e10", "1e400", "50000000001", "9e15"})
	case "hs_createdate":
		if len(tb.order) > 0 {
			return at(tb.byID[tb.order[w.r.IntN(len(tb.order))]].created)
		}
		return formatTime(w.clk.Now())
	case "hs_lastmodifieddate":
		if len(tb.order) > 0 && w.r.IntN(4) > 0 {
			o := tb.byID[tb.order[w.r.IntN(len(tb.order))]]
			if o.indexed != nil && w.r.IntN(2) == 0 {
				return at(o.indexed.updated)
			}
			return at(o.updated)
		}
		return w.pick([]string{formatTime(w.clk.Now()), formatTime(w.clk.Now().Add(-w.st.lag)), "abc", "0", "2024-05-02"})
	case "hs_timestamp":
		if w.r.IntN(3) == 0 {
			return at(time.UnixMilli(1714557601000))
		}
	}
	if w.r.IntN(4) == 0 {
		return w.pick(eqMissing)
	}
	return w.pick(w.pools[prop])
}

func (w *diffWorld) randomGroups() []filterGroup {
	props := []string{"commlog_key", "commlog_key", "hs_communication_channel_type", "hubspot_owner_id", "flag",
		"hs_communication_body", "n", "hs_timestamp", "hs_object_id", "hs_lastmodifieddate"}
	ops := []string{"EQ", "EQ", "eq", "IN", "IN", "NEQ", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "GT", "LTE", "BETWEEN", "CONTAINS_TOKEN"}
	var groups []filterGroup
	for range w.r.IntN(3) {
		var g filterGroup
		for fi := range w.r.IntN(4) { // an empty group matches every record
			f := searchFilter{PropertyName: w.pick(props), Operator: w.pick(ops)}
			switch {
			case fi == 0 && w.r.IntN(2) == 0: // a range the range indexes or tb.order answer
				f.PropertyName = w.pick([]string{"hs_object_id", "hs_lastmodifieddate", "hs_lastmodifieddate", "hs_timestamp", "hs_createdate", "n"})
				f.Operator = w.pick([]string{"GT", "GTE", "LT", "LTE", "BETWEEN", "EQ"})
			case fi == 0 && w.r.IntN(2) == 0: // an EQ or IN the equality index answers
				f.PropertyName = w.pick([]string{"commlog_key", "commlog_key", "hs_communication_channel_type", "hubspot_owner_id", "flag", "hs_object_id"})
				f.Operator = w.pick([]string{"EQ", "IN", "in"})
			case fi == 1 && w.r.IntN(2) == 0: // the other end of the first filter's range
				f.PropertyName = g.Filters[0].PropertyName
				f.Operator = w.pick([]string{"GT", "GTE", "LT", "LTE", "lt"})
			}
			switch strings.ToUpper(f.Operator) {
			case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
			case "IN", "NOT_IN":
				for range 1 + w.r.IntN(4) {
					f.Values = append(f.Values, w.filterValue(f.PropertyName))
				}
			case "BETWEEN":
				f.Value, f.HighValue = w.filterValue(f.PropertyName), w.filterValue(f.PropertyName)
			default:
				f.Value = w.filterValue(f.PropertyName)
			}
			g.Filters = append(g.Filters, f)
		}
		groups = append(groups, g)
	}
	return groups
}

// shapedSearch returns one of the searches commlog sends at scale, with
// random values: export's walk (a modification-time window sorted by it),
// its walk of ties (one instant, by id), and SearchAll's paging by id
// with a user filter.
func (w *diffWorld) shapedSearch() ([]filterGroup, []compiledSort) {
	flt := func(prop, op string) searchFilter {
		return searchFilter{PropertyName: prop, Operator: op, Value: w.filterValue(prop)}
	}
	switch w.r.IntN(3) {
	case 0:
		to := flt("hs_lastmodifieddate", "LT")
		if w.r.IntN(2) == 0 { // the walk's end: now less a safety lag
			to.Value = strconv.FormatInt(w.clk.Now().Add(-w.st.lag/2).UnixMilli(), 10)
		}
		return []filterGroup{{Filters: []searchFilter{flt("hs_lastmodifieddate", w.pick([]string{"GT", "GTE"})), to}}},
			[]compiledSort{{prop: "hs_lastmodifieddate", desc: w.r.IntN(4) == 0}}
	case 1:
		return []filterGroup{{Filters: []searchFilter{flt("hs_lastmodifieddate", "EQ"), flt("hs_object_id", "GT")}}},
			[]compiledSort{{prop: "hs_object_id"}}
	}
	g := filterGroup{Filters: []searchFilter{flt("hs_object_id", "GT")}}
	if w.r.IntN(2) == 0 {
		g.Filters = append(g.Filters, flt("hs_timestamp", "GTE"), flt("hs_timestamp", "LT"))
	}
	if w.r.IntN(2) == 0 {
		g.Filters = append(g.Filters, flt("hs_communication_channel_type", "EQ"))
	}
	return []filterGroup{g}, []compiledSort{{prop: "hs_object_id", desc: w.r.IntN(4) == 0}}
}

type hitView struct {
	ID      uint64
	Updated time.Time
	Props   map[string]string
}

func views(hits []hit) []hitView {
	out := make([]hitView, len(hits))
	for i, h := range hits {
		out[i] = hitView{h.o.id, h.updated, h.props}
	}
	return out
}

// compareSearches runs n random searches both ways on st: find, with
// the indexes and the shortcuts, against findScan, its definition; whole
// and a random page of each.
func (w *diffWorld) compareSearches(st *store, n int) {
	w.t.Helper()
	tb := st.table("communications")
	now := w.clk.Now()
	for range n {
		groups := w.randomGroups()
		var sorts []compiledSort
		if w.r.IntN(4) > 0 {
			sorts = []compiledSort{{prop: w.pick([]string{"hs_timestamp", "hs_object_id", "commlog_key", "hs_lastmodifieddate",
				"hs_lastmodifieddate", "n", "hs_createdate", "flag"}), desc: w.r.IntN(2) == 0}}
		}
		if w.r.IntN(3) == 0 {
			groups, sorts = w.shapedSearch()
		}
		if e := tb.validateFilters(groups); e != nil {
			w.t.Fatalf("generated an invalid search: %v", e.Message)
		}
		query := ""
		if w.r.IntN(5) == 0 {
			query = w.pick([]string{"hel", "bye", "world"})
		}
		if _, ok := tb.candidates(groups); ok {
			w.narrowed++
		} else {
			w.scanned++
		}
		if len(groups) == 1 {
			if nw, ok := tb.narrowing(&groups[0]); ok && (nw.ix != nil || nw.sorted) {
				w.ranged++
			}
		}
		_, _, ordered := tb.ordered(groups, sorts)
		if ordered {
			w.ordered++
		}
		raw, _ := json.Marshal(groups)
		got, gotTotal := st.find(tb, groups, query, sorts, now, 0, math.MaxInt)
		want, wantTotal := st.findScan(tb, groups, query, sorts, now, 0, math.MaxInt)
		if d := cmp.Diff(views(want), views(got)); d != "" || gotTotal != wantTotal {
			w.t.Fatalf("find differs from the scan (-scan +find) for %s query %q sorts %v, totals %d (scan) %d:\n%s", raw, query, sorts, wantTotal, gotTotal, d)
		}
		if _, ok := tb.candidates(groups); ok && len(got) > 0 {
			w.narrowedHits++
		}
		if len(got) > 0 {
			if ordered {
				w.orderedHits++
			}
		}
		offset, limit := w.r.IntN(len(want)+2), 1+w.r.IntN(4)
		got, gotTotal = st.find(tb, groups, query, sorts, now, offset, limit)
		want, wantTotal = st.findScan(tb, groups, query, sorts, now, offset, limit)
		if d := cmp.Diff(views(want), views(got)); d != "" || gotTotal != wantTotal {
			w.t.Fatalf("page after=%d limit=%d differs from the scan's (-scan +find) for %s query %q sorts %v, totals %d (scan) %d:\n%s",
				offset, limit, raw, query, sorts, wantTotal, gotTotal, d)
		}
	}
}

// checkRanges holds st's range indexes to the definition: the entries
// are exactly the (key, id) of the versions search can see.
func (w *diffWorld) checkRanges(st *store) {
	w.t.Helper()
	tb := st.table("communications")
	for _, prop := range []string{"hs_lastmodifieddate", "hs_timestamp"} {
		ix := tb.ranges[prop]
		if ix == nil {
			w.t.Fatalf("%s has no range index", prop)
		}
		var want []rangeEntry
		for _, id := range tb.order {
			o := tb.byID[id]
			if !o.archived {
				if k, ok := ix.key(o.props, o.updated); ok {
					want = append(want, rangeEntry{k, o})
				}
			}
			if o.indexed != nil && !o.indexed.archived {
				if k, ok := ix.key(o.indexed.props, o.indexed.updated); ok {
					want = append(want, rangeEntry{k, o})
				}
			}
		}
		slices.SortFunc(want, cmpEntry)
		want = slices.Compact(want)
		var got []rangeEntry
		for _, c := range ix.chunks {
			if len(c) == 0 {
				w.t.Fatalf("%s: an empty chunk", prop)
			}
			got = append(got, c...)
		}
		if d := cmp.Diff(keyIDs(want), keyIDs(got)); d != "" || ix.n != len(got) {
			w.t.Fatalf("%s: range index (-want +got), n=%d:\n%s", prop, ix.n, d)
		}
	}
}

// checkIndex holds st's equality indexes to the definition: each value
// names exactly the records that hold it (folded) in a version search
// can see, or, past eqCap, counts them.
func (w *diffWorld) checkIndex(st *store) {
	w.t.Helper()
	tb := st.table("communications")
	var indexed []string
	for prop := range tb.props {
		if tb.eqIndexed(tb.props[prop]) {
			indexed = append(indexed, prop)
		}
	}
	for _, prop := range indexed {
		ix := tb.eq[prop]
		if ix == nil {
			w.t.Fatalf("%s has no equality index", prop)
		}
		want := map[string][]uint64{}
		for _, id := range tb.order {
			o := tb.byID[id]
			var keys []string
			if v, ok := o.props[prop]; ok && !o.archived {
				keys = append(keys, strings.ToLower(v))
			}
			if o.indexed != nil && !o.indexed.archived {
				if v, ok := o.indexed.props[prop]; ok {
					keys = append(keys, strings.ToLower(v))
				}
			}
			for _, k := range slices.Compact(keys) {
				want[k] = append(want[k], id)
			}
		}
		for k, ids := range want {
			got, ok := ix.appendIDs(nil, k)
			if !ok {
				if p := ix.many[k]; p == nil || p.n != len(ids) {
					w.t.Fatalf("%s=%q: saturated posting %+v, want n=%d", prop, k, p, len(ids))
				}
				continue
			}
			if d := cmp.Diff(ids, got); d != "" {
				w.t.Fatalf("%s=%q: index ids (-want +got):\n%s", prop, k, d)
			}
		}
		for k := range ix.one {
			if want[k] == nil {
				w.t.Fatalf("%s=%q: stale entry for %d", prop, k, ix.one[k])
			}
		}
		for k, p := range ix.many {
			if want[k] == nil || p.n != len(want[k]) {
				w.t.Fatalf("%s=%q: stale posting %+v, want %v", prop, k, p, want[k])
			}
			if _, dup := ix.one[k]; dup {
				w.t.Fatalf("%s=%q: in both one and many", prop, k)
			}
		}
	}
}

// TestSearchIndexAgreesWithScan holds the search through the equality
// index to the full scan over random records, writes (creates, updates
// that clear, archives), clock moves inside and past the index lag, and
// random filter groups; on the store, on a replica fed its write-ahead
// log, and on a store loaded from its snapshot.
func TestSearchIndexAgreesWithScan(t *testing.T) {
	tests := []struct {
		name  string
		lag   time.Duration
		eqCap int
	}{
		{"no lag", 0, defaultEqCap},
		{"lag", time.Second, defaultEqCap},
		{"lag, small postings", time.Second, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var narrowed, scanned, narrowedHits, ranged, ordered, orderedHits int
			for seed := range uint64(3) {
				w := newDiffWorld(t, seed, tt.lag, tt.eqCap)
				for i := range 150 {
					w.step()
					if i%4 == 0 {
						w.compareSearches(w.st, 6)
						w.compareSearches(w.mirror, 2)
					}
					if i%10 == 0 {
						w.checkIndex(w.st)
						w.checkIndex(w.mirror)
						w.checkRanges(w.st)
						w.checkRanges(w.mirror)
					}
				}
				loaded := newStore(w.clk.Now, tt.lag)
				loaded.table("communications").eqCap = tt.eqCap
				if err := w.st.snapshot(func(op walOp) error { loaded.apply(op); return nil }); err != nil {
					t.Fatal(err)
				}
				w.checkIndex(loaded)
				w.checkRanges(loaded)
				w.compareSearches(loaded, 20)
				narrowed += w.narrowed
				scanned += w.scanned
				narrowedHits += w.narrowedHits
				ranged += w.ranged
				ordered += w.ordered
				orderedHits += w.orderedHits
			}
			t.Logf("%d searches narrowed by the indexes (%d found records), %d scanned; %d narrowed by a range, %d walked in order (%d found records)",
				narrowed, narrowedHits, scanned, ranged, ordered, orderedHits)
			if narrowed < (narrowed+scanned)/5 || narrowedHits < narrowed/8 || scanned == 0 {
				t.Errorf("%d searches narrowed, %d scanned: the test no longer exercises both paths", narrowed, scanned)
			}
			if ranged < (narrowed+scanned)/5 || ordered < (narrowed+scanned)/20 || orderedHits < ordered/4 {
				t.Errorf("%d searches narrowed by a range, %d walked in order (%d found records): the test no longer exercises the range indexes",
					ranged, ordered, orderedHits)
			}
		})
	}
}

func TestEqIndexPostings(t *testing.T) {
	type state struct {
		One  map[string]uint64
		Many map[string]posting
	}
	snap := func(ix *eqIndex) state {
		s := state{One: ix.one, Many: map[string]posting{}}
		for k, p := range ix.many {
			s.Many[k] = *p
		}
		return s
	}
	type op struct {
		add bool
		key string
		id  uint64
	}
	tests := []struct {
		name string
		ops  []op
		want state
	}{
		{"one", []op{{true, "a", 5}}, state{One: map[string]uint64{"a": 5}, Many: map[string]posting{}}},
		{"two, out of order", []op{{true, "a", 5}, {true, "a", 3}}, state{One: map[string]uint64{}, Many: map[string]posting{"a": {n: 2, ids: []uint64{3, 5}}}}},
		{"insert in the middle", []op{{true, "a", 5}, {true, "a", 9}, {true, "a", 7}}, state{One: map[string]uint64{}, Many: map[string]posting{"a": {n: 3, ids: []uint64{5, 7, 9}}}}},
		{"back to one", []op{{true, "a", 5}, {true, "a", 9}, {false, "a", 5}}, state{One: map[string]uint64{"a": 9}, Many: map[string]posting{}}},
		{"past the cap keeps a count", []op{{true, "a", 1}, {true, "a", 2}, {true, "a", 3}, {true, "a", 4}}, state{One: map[string]uint64{}, Many: map[string]posting{"a": {n: 4}}}},
		{"a saturated posting stays until empty", []op{{true, "a", 1}, {true, "a", 2}, {true, "a", 3}, {true, "a", 4}, {false, "a", 1}, {false, "a", 2}, {false, "a", 3}},
			state{One: map[string]uint64{}, Many: map[string]posting{"a": {n: 1}}}},
		{"emptied", []op{{true, "a", 1}, {true, "a", 2}, {true, "a", 3}, {true, "a", 4}, {false, "a", 1}, {false, "a", 2}, {false, "a", 3}, {false, "a", 4}},
			state{One: map[string]uint64{}, Many: map[string]posting{}}},
		{"removing another id leaves one alone", []op{{true, "a", 1}, {false, "a", 2}}, state{One: map[string]uint64{"a": 1}, Many: map[string]posting{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := newEqIndex("p")
			for _, o := range tt.ops {
				if o.add {
					ix.add(o.key, o.id, 3)
				} else {
					ix.remove(o.key, o.id)
				}
			}
			if d := cmp.Diff(tt.want, snap(ix), cmp.AllowUnexported(posting{})); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestSearchIndexWhichProperties pins which properties get an equality
// index: text compared case-insensitively, not free text, not the ones
// systemValue answers.
func TestSearchIndexWhichProperties(t *testing.T) {
	st := newStore(time.Now, 0)
	tb := st.table("communications")
	tb.addProp(propertyDef{Name: "commlog_key", Type: "string", FieldType: "text"})
	tb.addProp(propertyDef{Name: "createdate", Type: "string", FieldType: "text"}) // systemValue answers it once defined
	var got []string
	for p := range tb.eq {
		got = append(got, p)
	}
	slices.Sort(got)
	want := []string{"commlog_key", "hs_attachment_ids", "hs_body_preview", "hs_communication_channel_type", "hs_communication_logged_from", "hubspot_owner_id"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("indexed properties (-want +got):\n%s", d)
	}
}

// TestSearchInThroughIndex checks the HTTP path end to end: an IN of keys
// in other case finds the records, an archived one drops out, and a
// record updated inside the lag is still found by its old key.
func TestSearchInThroughIndex(t *testing.T) {
	clk := newClock()
	h := start(t, Options{SearchLag: time.Second, Now: clk.Now})
	h.must(201, "POST", "/crm/v3/properties/communications", map[string]any{"name": "commlog_key", "label": "key", "type": "string",
		"fieldType": "text", "groupName": "communicationinformation"})
	var in []map[string]any
	for i := range 4 {
		in = append(in, comm(fmt.Sprintf("body %d", i), "commlog_key", fmt.Sprintf("key%d", i)))
	}
	r := h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(in...))
	ids := map[string]string{}
	for _, res := range r.get("results").([]any) {
		ids[fmt.Sprint(jpath(res, "properties.hs_communication_body"))] = fmt.Sprint(jpath(res, "id"))
	}
	clk.Add(2 * time.Second)
	h.must(204, "DELETE", "/crm/v3/objects/communications/"+ids["body 1"], nil)
	h.must(200, "PATCH", "/crm/v3/objects/communications/"+ids["body 2"], map[string]any{"properties": map[string]any{"commlog_key": "renamed"}})
	body := searchBody([]map[string]any{f("commlog_key", "IN", "KEY0", "key1", "Key2", "renamed")})
	if got, want := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", body)), []string{"body 0", "body 1", "body 2"}; !cmp.Equal(got, want) {
		t.Errorf("inside the lag: %v, want %v", got, want)
	}
	clk.Add(2 * time.Second)
	if got, want := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", body)), []string{"body 0", "body 2"}; !cmp.Equal(got, want) {
		t.Errorf("past the lag: %v, want %v", got, want)
	}
}

// TestOlderViewsSwept checks that an older view (object.indexed) stops
// costing memory and candidates once its write is indexed: the next write
// after that drops it and its equality-index entries, and not before,
// also for a record written twice inside the lag and an archived one.
func TestOlderViewsSwept(t *testing.T) {
	clk := newClock()
	st := newStore(clk.Now, time.Second)
	tb := st.table("communications")
	tb.addProp(propertyDef{Name: "commlog_key", Type: "string", FieldType: "text", GroupName: tb.groupOrder[0]})
	var recs []*object
	for i := range 4 {
		recs = append(recs, st.create(tb, map[string]string{"commlog_key": fmt.Sprintf("old%d", i)}))
	}
	clk.Add(2 * time.Second)
	for i, o := range recs[:3] {
		st.update(tb, o, map[string]string{"commlog_key": fmt.Sprintf("new%d", i)})
	}
	st.archive(tb, recs[3])
	withView := func() []uint64 {
		var ids []uint64
		for _, id := range tb.order {
			if tb.byID[id].indexed != nil {
				ids = append(ids, id)
			}
		}
		return ids
	}
	// found runs an EQ search on commlog_key both ways and returns the
	// ids found and the index's candidates.
	found := func(key string) (hits, cands []uint64) {
		t.Helper()
		groups := []filterGroup{{Filters: []searchFilter{{PropertyName: "commlog_key", Operator: "EQ", Value: key}}}}
		got, scan := st.matches(tb, groups, "", clk.Now(), false), st.matches(tb, groups, "", clk.Now(), true)
		if d := cmp.Diff(views(scan), views(got)); d != "" {
			t.Fatalf("%s: indexed search differs from the scan (-scan +indexed):\n%s", key, d)
		}
		for _, h := range got {
			hits = append(hits, h.o.id)
		}
		cands, ok := tb.filterCandidates(&groups[0].Filters[0])
		if !ok {
			t.Fatalf("%s: the index cannot answer", key)
		}
		return hits, cands
	}
	ids := func(os ...*object) []uint64 {
		var out []uint64
		for _, o := range os {
			out = append(out, o.id)
		}
		return out
	}
	if d := cmp.Diff(ids(recs...), withView()); d != "" {
		t.Fatalf("views after the writes (-want +got):\n%s", d)
	}

	// Half the lag later record 2 is written again: it keeps the view
	// of old2 and is listed anew.
	clk.Add(500 * time.Millisecond)
	st.update(tb, recs[2], map[string]string{"commlog_key": "newer2"})
	if d := cmp.Diff(ids(recs...), withView()); d != "" {
		t.Errorf("inside the lag (-want +got):\n%s", d)
	}

	// The first writes are indexed; record 2's second is not.
	clk.Add(500 * time.Millisecond)
	st.create(tb, map[string]string{"commlog_key": "other"})
	if d := cmp.Diff(ids(recs[2]), withView()); d != "" {
		t.Errorf("views once the first writes are indexed (-want +got):\n%s", d)
	}
	for _, tt := range []struct {
		key         string
		hits, cands []uint64
	}{
		{"old0", nil, nil},
		{"new0", ids(recs[0]), ids(recs[0])},
		{"old3", nil, nil},
		{"old2", ids(recs[2]), ids(recs[2])},
		{"newer2", nil, ids(recs[2])},
	} {
		hits, cands := found(tt.key)
		if d := cmp.Diff(tt.hits, hits); d != "" {
			t.Errorf("%s: hits (-want +got):\n%s", tt.key, d)
		}
		if d := cmp.Diff(tt.cands, cands); d != "" {
			t.Errorf("%s: candidates (-want +got):\n%s", tt.key, d)
		}
	}

	clk.Add(500 * time.Millisecond)
	st.create(tb, map[string]string{"commlog_key": "another"})
	if got := withView(); len(got) != 0 {
		t.Errorf("views left after every write is indexed: %v", got)
	}
	if hits, cands := found("old2"); len(hits)+len(cands) != 0 {
		t.Errorf("old2 after the lag: hits %v, candidates %v", hits, cands)
	}
	if len(st.expiring) != 0 {
		t.Errorf("%d sweep entries left", len(st.expiring))
	}
}
