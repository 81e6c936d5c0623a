package export

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
)

// collect runs a walk over [from, to) and returns the ids in write order.
func collect(t *testing.T, f *fakeAPI, limit, cap int, from, to int64) ([]string, error) {
	ids, _, err := collectPeak(t, f, limit, cap, from, to)
	return ids, err
}

// collectPeak also returns the walk's peak overlap set size.
func collectPeak(t *testing.T, f *fakeAPI, limit, cap int, from, to int64) ([]string, int, error) {
	t.Helper()
	var ids []string
	var last int64 = -1
	w := &walker{api: f, props: []string{propID, propModified}, limit: limit, cap: cap, pages: func() {},
		page: func(_ context.Context, objs []crm.Object) error {
			for i := range objs {
				ts, err := modifiedMillis(&objs[i])
				if err != nil {
					return err
				}
				if ts < last {
					t.Errorf("record %s at %d written after one at %d", objs[i].ID, ts, last)
				}
				last = max(last, ts)
				ids = append(ids, objs[i].ID)
			}
			return nil
		}}
	err := w.walk(context.Background(), from, to)
	return ids, w.peakSeen, err
}

func id(n int) string { return strconv.Itoa(50000000000 + n) }

func TestWalkExactlyOnce(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		group       int // records sharing one timestamp
		limit, cap  int
		from, to    int64
		wantIndexes func(i int, ts int64) bool
	}{
		{name: "one page", n: 7, group: 1, limit: 10, cap: 100},
		{name: "past the cap, distinct times", n: 1000, group: 1, limit: 10, cap: 50},
		{name: "past the cap, groups of 7 straddling pages", n: 1000, group: 7, limit: 10, cap: 50},
		{name: "groups larger than a page", n: 600, group: 25, limit: 10, cap: 50},
		{name: "more ties than a window reaches", n: 330, group: 110, limit: 10, cap: 50},
		{name: "all at one instant", n: 240, group: 240, limit: 10, cap: 30},
		{name: "window bounds", n: 100, group: 3, limit: 10, cap: 50, from: 1000 + 10*10, to: 1000 + 20*10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.cap = tt.cap
			var want []string
			from, to := tt.from, tt.to
			if to == 0 {
				to = 1 << 50
			}
			for i := 0; i < tt.n; i++ {
				ts := int64(1000 + (i/tt.group)*10)
				f.put(id(i), ts, nil)
				if ts >= from && ts < to {
					want = append(want, id(i))
				}
			}
			got, peak, err := collectPeak(t, f, tt.limit, tt.cap, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sortedIDs(want), sortedIDs(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			// Memory stays flat: the only set that grows holds the ids of
			// one instant.
			if peak > tt.group {
				t.Errorf("overlap set grew to %d ids; at most %d records share an instant", peak, tt.group)
			}
		})
	}
}

func sortedIDs(ids []string) []string {
	out := append([]string(nil), ids...)
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && idLess(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestWalkUnderChurn changes and archives records between pages, as
// HubSpot's users do while a nightly export runs. Offsets then shift; the
// walk must still write every record that sat in the window unchanged for
// the whole run, and no record twice.
func TestWalkUnderChurn(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			f := newFake()
			f.cap = 60
			const n = 800
			for i := 0; i < n; i++ {
				f.put(id(i), int64(1000+rng.IntN(150)*3), nil) // ~5 records per instant
			}
			const upper = 1 << 40
			touched := map[string]bool{}
			now := int64(upper)
			f.beforeSearch = func(int) {
				for k := 0; k < 3; k++ {
					victim := id(rng.IntN(n))
					touched[victim] = true
					now++
					if rng.IntN(3) == 0 {
						f.archive(victim, now)
					} else {
						f.put(victim, now, nil) // moves past the window's end
					}
				}
			}
			got, err := collect(t, f, 10, f.cap, 0, upper)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, g := range got {
				if seen[g] {
					t.Errorf("record %s written twice", g)
				}
				seen[g] = true
			}
			missed := 0
			for i := 0; i < n; i++ {
				if !touched[id(i)] && !seen[id(i)] {
					missed++
				}
			}
			if missed > 0 {
				t.Errorf("%d unchanged records missed (touched %d, wrote %d)", missed, len(touched), len(got))
			}
		})
	}
}

func TestWalkRefusesBadAnswers(t *testing.T) {
	tests := []struct {
		name   string
		mangle func(res *crm.SearchResult)
		want   string
	}{
		{name: "out of order", want: "out of order", mangle: func(res *crm.SearchResult) {
			if len(res.Results) > 1 {
				res.Results[0], res.Results[1] = res.Results[1], res.Results[0]
			}
		}},
		{name: "bad time", want: "is not a time", mangle: func(res *crm.SearchResult) {
			if len(res.Results) > 0 {
				res.Results[0].Properties[propModified] = "yesterday"
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			for i := 0; i < 30; i++ {
				f.put(id(i), int64(1000+i), nil)
			}
			f.mangle = tt.mangle
			_, err := collect(t, f, 10, 100, 0, 1<<40)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWalkStopsOnCancel(t *testing.T) {
	f := newFake()
	for i := 0; i < 100; i++ {
		f.put(id(i), int64(1000+i), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pages := 0
	w := &walker{api: f, props: []string{propID, propModified}, limit: 10, cap: 1000, pages: func() {},
		page: func(context.Context, []crm.Object) error {
			pages++
			if pages == 2 {
				cancel()
			}
			return nil
		}}
	if err := w.walk(ctx, 0, 1<<40); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if pages != 2 {
		t.Errorf("pages written after cancel: %d, want 2", pages)
	}
}
