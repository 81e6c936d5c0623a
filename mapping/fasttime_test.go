package mapping

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestFastWallMatchesReference is the property test of the fast path: over
// random wall-clock values — uniform over 1850–2100, runs of nearby values
// (the cache's hits), values within hours of every kind of zone change
// (DST gaps and overlaps, 30-minute DST, negative DST, a skipped day,
// +14:00, LMT) and malformed or out-of-range values — parseWall gives
// exactly what the reference parseTime gives: the same instant and
// location, note and error.
func TestFastWallMatchesReference(t *testing.T) {
	zones := []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "America/Sao_Paulo",
		"Pacific/Kiritimati", "America/St_Johns", "Europe/Dublin", "Africa/Casablanca", "Antarctica/Troll", "Asia/Kolkata",
		"America/Anchorage", "UTC"}
	rng := rand.New(rand.NewPCG(7, 2024))
	const lo, hi = -3786825600, 4102444800 // 1850-01-01, 2100-01-01
	for _, zone := range zones {
		loc, err := loadZone(zone)
		if err != nil {
			t.Fatal(err)
		}
		for li, layout := range fixedLayouts {
			f := fixedLayoutFor(layout)
			if f == nil {
				t.Fatalf("fixedLayoutFor(%q) = nil", layout)
			}
			ambiguous := []string{"error", "earlier", "later"}[li%3]
			var z zoneCache
			n, hits := 0, 0
			check := func(raw string) {
				t.Helper()
				n++
				if w, ok := f.wall(raw); ok {
					if _, hit := z.offset(w); hit {
						hits++
					}
				}
				got, gotNote, gotErr := z.parseWall(raw, layout, f, loc, zone, ambiguous)
				want, wantNote, wantErr := parseTime(raw, layout, false, loc, zone, ambiguous)
				if got != want || gotNote != wantNote || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("%s, layout %q, %q: fast path = %v (%s) %q %v; reference = %v (%s) %q %v",
						zone, layout, raw, got, got.Location(), gotNote, gotErr, want, want.Location(), wantNote, wantErr)
				}
			}
			wallOf := func(u time.Time) string { return u.Format(layout) }
			for range 300 {
				u := time.Unix(lo+rng.Int64N(hi-lo), 0).In(loc)
				check(wallOf(u))
				// A run of nearby rows, as in a chat log.
				for range 5 {
					u = u.Add(time.Duration(rng.Int64N(7200)) * time.Second)
					check(wallOf(u))
				}
				// Around the next zone change, on both sides, read with the
				// offsets before and after it (gaps and overlaps).
				if _, end := u.ZoneBounds(); !end.IsZero() {
					_, before := u.Zone()
					_, after := end.Zone()
					for _, off := range []int{before, after} {
						for range 8 {
							d := time.Duration(rng.Int64N(10*3600)-5*3600) * time.Second
							w := end.Add(d).UTC().Add(time.Duration(off) * time.Second)
							check(w.Format(layout))
						}
					}
				}
			}
			// Malformed and out-of-range values go to the reference.
			for _, raw := range []string{"", "x", "2024-02-30 10:00:00", "2023-02-29 10:00", "2024-13-01 10:00:00",
				"2024-00-10 10:00", "2024-01-01 24:00:00", "2024-01-01 23:60:00", "2024-01-01 23:59:60",
				"2024-01-01 9:05:00", "2024-01-01 09:05:00.5", "2024-01-01  09:05", "31.12.2024 23:59", "12/31/2024 23:59",
				"00.00.0000 00:00", "0000-01-01T00:00:00", "9999-12-31 23:59:59", "2024-1-01 10:00", "２０２４-01-01 10:00"} {
				check(raw)
			}
			if hits < n/8 { // half the values are chosen near zone changes, where the cache must not answer
				t.Errorf("%s, layout %q: the fast path answered %d of %d values; the cache is not used", zone, layout, hits, n)
			}
		}
	}
}

func TestFixedLayoutWall(t *testing.T) {
	tests := []struct {
		layout, raw string
		ok          bool
	}{
		{"2006-01-02 15:04:05", "2024-02-29 23:59:59", true},
		{"2006-01-02 15:04:05", "2023-02-29 23:59:59", false},
		{"2006-01-02 15:04:05", "1900-02-29 00:00:00", false},
		{"2006-01-02 15:04:05", "2000-02-29 00:00:00", true},
		{"2006-01-02 15:04:05", "2024-04-31 00:00:00", false},
		{"2006-01-02 15:04:05", "2024-04-30 00:00:0", false},
		{"2006-01-02 15:04:05", "2024-04-30T00:00:00", false},
		{"02.01.2006 15:04", "01.03.2024 09:30", true},
		{"01/02/2006 15:04", "03/01/2024 09:30", true},
		{"02/01/2006 15:04:05", "01/03/2024 09:30:00", true},
		{"2006-01-02T15:04", "0000-01-01T00:00", true},
	}
	for _, tt := range tests {
		f := fixedLayoutFor(tt.layout)
		w, ok := f.wall(tt.raw)
		if ok != tt.ok {
			t.Errorf("%q with %q: ok = %v, want %v", tt.raw, tt.layout, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		ref, err := time.Parse(tt.layout, tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		if w != ref.Unix() {
			t.Errorf("%q with %q: wall = %d, time.Parse says %d", tt.raw, tt.layout, w, ref.Unix())
		}
	}
	if f := fixedLayoutFor("2006-01-02 15:04:05 MST"); f != nil {
		t.Errorf("a layout outside fixedLayouts compiled")
	}
}

// FuzzFastWall: for any value, in any fixed layout, the fast path answers
// what the reference answers, whether the zone cache is cold or warm.
func FuzzFastWall(f *testing.F) {
	for _, s := range []string{"2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-05-01 12:00:00", "2024-02-29 10:00",
		"31.12.2024 23:59", "12/31/2024 23:59:59", "2024-05-01 9:05:00", "0000-01-01T00:00:00", "2024-13-01 10:00:00"} {
		f.Add(s, uint8(0))
	}
	loc, err := loadZone("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string, which uint8) {
		layout := fixedLayouts[int(which)%len(fixedLayouts)]
		fl := fixedLayoutFor(layout)
		var z zoneCache
		for _, warm := range []string{"", "2024-06-15 12:00:00", "2024-12-15 12:00:00", "1900-06-15 12:00:00"} {
			if warm != "" {
				if u, err := time.ParseInLocation("2006-01-02 15:04:05", warm, loc); err == nil {
					z.learn(u)
				}
			}
			got, gotNote, gotErr := z.parseWall(raw, layout, fl, loc, "Europe/Berlin", "later")
			want, wantNote, wantErr := parseTime(raw, layout, false, loc, "Europe/Berlin", "later")
			if got != want || gotNote != wantNote || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("layout %q, %q: fast path = %v %q %v; reference = %v %q %v", layout, raw, got, gotNote, gotErr, want, wantNote, wantErr)
			}
		}
	})
}
