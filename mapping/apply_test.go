package mapping

import (
	"fmt"
	"testing"
)

// TestPhoneCache: every answer equals NormalizePhone's, the cache stays
// bounded, and a number in use survives the turnover of a generation.
func TestPhoneCache(t *testing.T) {
	m := mustParse(t, benchMapping)
	m.st.phoneGen = 64
	want := func(raw string) phoneResult {
		e, err := NormalizePhone(raw, "DE")
		if err != nil {
			return phoneResult{reason: err.Error()}
		}
		return phoneResult{e164: e}
	}
	const hot = "0151 23456780"
	n := 2*m.st.phoneGen + 10
	for pass := range 2 {
		for i := range n {
			raw := fmt.Sprintf("+1202%07d", i)
			if i%7 == 3 {
				raw = fmt.Sprintf("%d", i) // too short: a reason, cached too
			}
			if got, w := m.phone(raw, "DE"), want(raw); got != w {
				t.Fatalf("pass %d: phone(%q) = %+v, want %+v", pass, raw, got, w)
			}
			if got, w := m.phone(hot, "DE"), want(hot); got != w {
				t.Fatalf("phone(%q) = %+v, want %+v", hot, got, w)
			}
			if size := len(m.st.phones) + len(m.st.oldPhones); size > 2*m.st.phoneGen {
				t.Fatalf("cache holds %d numbers, bound %d", size, 2*m.st.phoneGen)
			}
			if _, ok := m.st.phones[phoneKey{hot, "DE"}]; !ok {
				t.Fatalf("after %d numbers the hot number left the current generation", i)
			}
		}
	}
}
