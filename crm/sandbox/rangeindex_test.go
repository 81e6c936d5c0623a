package sandbox

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRangeIndexChunks holds the chunked set to a sorted slice through
// enough adds and removes to split chunks and empty some: its entries,
// count and each over random key ranges.
func TestRangeIndexChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	ix := &rangeIndex{prop: "p"}
	objs := []*object{{id: 0}, {id: 1}, {id: 2}, {id: 3}}
	var want []rangeEntry
	check := func(step int) {
		t.Helper()
		var got []rangeEntry
		for _, c := range ix.chunks {
			if len(c) == 0 || len(c) > 2*rangeChunk {
				t.Fatalf("step %d: a chunk of %d entries", step, len(c))
			}
			got = append(got, c...)
		}
		if !slices.Equal(want, got) || ix.n != len(want) {
			t.Fatalf("step %d: entries (-want +got), n=%d:\n%s", step, ix.n, cmp.Diff(keyIDs(want), keyIDs(got)))
		}
		for range 20 {
			lo := int64(r.IntN(3000)) - 100
			if r.IntN(3) == 0 {
				lo += 100_000
			}
			hi := lo + int64(r.IntN(3*rangeChunk)) - 50
			var in []rangeEntry
			for _, e := range want {
				if e.key >= lo && e.key <= hi {
					in = append(in, e)
				}
			}
			var walked []rangeEntry
			ix.each(lo, hi, func(e rangeEntry) bool { walked = append(walked, e); return true })
			if !slices.Equal(in, walked) || ix.count(lo, hi) != len(in) {
				t.Fatalf("step %d: [%d, %d] count %d, walked (-want +got):\n%s", step, lo, hi, ix.count(lo, hi), cmp.Diff(keyIDs(in), keyIDs(walked)))
			}
		}
	}
	// First appends, as modification times come, past a few full chunks.
	for step := range 5 * rangeChunk {
		e := rangeEntry{key: 100_000 + int64(step), o: objs[step%4]}
		want = append(want, e)
		ix.add(e)
		if step%1000 == 0 {
			check(step)
		}
	}
	for step := range 12_000 {
		e := rangeEntry{key: int64(r.IntN(2800)), o: objs[r.IntN(4)]}
		switch {
		case step < 3000 && step%3 == 0: // in order, in the middle
			e = rangeEntry{key: 2800 + int64(step), o: objs[1]}
			if step > 2000 { // then removed again, emptying chunks
				e.key -= 999
				i, found := slices.BinarySearchFunc(want, e, cmpEntry)
				if !found {
					t.Fatalf("step %d: %v was never added", step, e)
				}
				want = slices.Delete(want, i, i+1)
				ix.remove(e)
				break
			}
			i, _ := slices.BinarySearchFunc(want, e, cmpEntry)
			want = slices.Insert(want, i, e)
			ix.add(e)
		case step < 8000 || r.IntN(2) == 0:
			if i, found := slices.BinarySearchFunc(want, e, cmpEntry); !found {
				want = slices.Insert(want, i, e)
			}
			ix.add(e)
		default:
			if i, found := slices.BinarySearchFunc(want, e, cmpEntry); found {
				want = slices.Delete(want, i, i+1)
			}
			ix.remove(e)
		}
		if step%500 == 0 {
			check(step)
		}
	}
	check(-1)
	if len(ix.chunks) < 3 {
		t.Errorf("%d chunks: the test no longer splits them", len(ix.chunks))
	}
	// Empty the middle chunks, then all of them, then start again.
	for _, span := range [][2]int64{{500, 2000}, {100_000 + rangeChunk, 100_000 + 3*rangeChunk}, {-1 << 62, 1 << 62}} {
		var keep []rangeEntry
		for _, i := range r.Perm(len(want)) {
			if e := want[i]; e.key >= span[0] && e.key <= span[1] {
				ix.remove(e)
			}
		}
		for _, e := range want {
			if e.key < span[0] || e.key > span[1] {
				keep = append(keep, e)
			}
		}
		want = keep
		check(-2)
	}
	if len(ix.chunks) != 0 {
		t.Errorf("%d chunks left in an empty index", len(ix.chunks))
	}
	want = []rangeEntry{{5, objs[1]}}
	ix.add(want[0])
	check(-3)
}

// keyIDs shows entries as (key, id) pairs.
func keyIDs(es []rangeEntry) [][2]int64 {
	out := make([][2]int64, len(es))
	for i, e := range es {
		out[i] = [2]int64{e.key, int64(e.o.id)}
	}
	return out
}

// TestSearchRangeOddInstants holds find to findScan where modification
// times render in a form parseInstant does not read back (years before 1
// and after 9999): a range or sort on them cannot take the shortcuts, and
// the walk in index order is refused while such a time is indexed.
func TestSearchRangeOddInstants(t *testing.T) {
	var now time.Time
	st := newStore(func() time.Time { return now }, 0)
	tb := st.table("communications")
	at := []time.Time{
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 6, 1, 0, 0, 0, 5e6, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 10, 0, 0, 1e6, time.UTC),
		time.Date(2024, 5, 1, 10, 0, 0, 1e6, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var recs []*object
	for i, a := range at {
		now = a
		recs = append(recs, st.create(tb, map[string]string{"hs_timestamp": strconv.Itoa(i)}))
	}
	values := []string{"abc", "0", "-62135596800000", "0001-01-01T00:00:00Z", "2024-05-01T10:00:00.001Z", "1714557600001",
		"9999-12-31T23:59:59.999Z", "253402300799999", "253402300800000", "-62198755200000"}
	props := []string{"hs_lastmodifieddate", "hs_createdate"}
	check := func(stage string, wantOrdered bool) {
		t.Helper()
		for _, prop := range props {
			for _, op := range []string{"GT", "GTE", "LT", "LTE", "EQ", "NEQ", "BETWEEN"} {
				for vi, v := range values {
					for _, desc := range []bool{false, true} {
						fl := searchFilter{PropertyName: prop, Operator: op, Value: v}
						if op == "BETWEEN" {
							fl.HighValue = values[(vi+3)%len(values)]
						}
						groups := []filterGroup{{Filters: []searchFilter{fl}}}
						if e := tb.validateFilters(groups); e != nil {
							t.Fatal(e.Message)
						}
						sorts := []compiledSort{{prop: prop, desc: desc}}
						got, gotTotal := st.find(tb, groups, "", sorts, now, 0, 100)
						want, wantTotal := st.findScan(tb, groups, "", sorts, now, 0, 100)
						if d := cmp.Diff(views(want), views(got)); d != "" || gotTotal != wantTotal {
							t.Fatalf("%s: %s %s %q sorted %v: (-scan +find), totals %d %d:\n%s", stage, prop, op, v, sorts, wantTotal, gotTotal, d)
						}
						_, _, ordered := tb.ordered(groups, sorts)
						if want := wantOrdered && prop == "hs_lastmodifieddate" && op != "NEQ"; ordered != want {
							t.Errorf("%s: %s %s %q: walked in order %v, want %v", stage, prop, op, v, ordered, want)
						}
					}
				}
			}
		}
	}
	check("years -1 to 10000", false)
	// Once the odd times are gone from the index, the walk takes over.
	now = time.Date(10000, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, o := range []*object{recs[0], recs[1], recs[6]} {
		st.archive(tb, o)
	}
	check("years 1 to 9999", true)
}
