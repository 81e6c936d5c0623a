package sandbox

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRangeIndexChunks holds the chunked set to a sorted slice through
// enough adds and removes to split chunks and empty some: its entries,
// count and each over random key ranges.
func TestRangeIndexChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	ix := &rangeIndex{prop: "p"}
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
		if d := cmp.Diff(want, got, cmp.AllowUnexported(rangeEntry{})); d != "" || ix.n != len(want) {
			t.Fatalf("step %d: entries (-want +got), n=%d:\n%s", step, ix.n, d)
		}
		for range 20 {
			lo := int64(r.IntN(3000)) - 100
			hi := lo + int64(r.IntN(800)) - 50
			var in []rangeEntry
			for _, e := range want {
				if e.key >= lo && e.key <= hi {
					in = append(in, e)
				}
			}
			var walked []rangeEntry
			ix.each(lo, hi, func(e rangeEntry) bool { walked = append(walked, e); return true })
			if d := cmp.Diff(in, walked, cmp.AllowUnexported(rangeEntry{})); d != "" || ix.count(lo, hi) != len(in) {
				t.Fatalf("step %d: [%d, %d] count %d, walked (-want +got):\n%s", step, lo, hi, ix.count(lo, hi), d)
			}
		}
	}
	for step := range 12_000 {
		e := rangeEntry{key: int64(r.IntN(2800)), id: uint64(r.IntN(4))}
		switch {
		case step < 3000 && step%3 == 0: // appends, as modification times come
			e = rangeEntry{key: 2800 + int64(step), id: 1}
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
			want = append(want, e)
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
	for _, span := range [][2]int64{{500, 2000}, {-1 << 62, 1 << 62}} {
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
	want = []rangeEntry{{5, 1}}
	ix.add(want[0])
	check(-3)
}
