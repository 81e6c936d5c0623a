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
	// Another region has its own cache: the same digits mean another number.
	if got, w := m.phone(hot, "GB"), (phoneResult{reason: `"0151 23456780" is not a possible phone number (short code or wrong length)`}); got != w {
		gb, err := NormalizePhone(hot, "GB")
		t.Fatalf("phone(%q, GB) = %+v, want %+v (NormalizePhone: %q, %v)", hot, got, w, gb, err)
	}
	m.st.phones = nil

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
			c := m.st.phones[0]
			if len(m.st.phones) != 1 || c.region != "DE" {
				t.Fatalf("caches: %d, first for %q; want one for DE", len(m.st.phones), c.region)
			}
			if size := len(c.cur) + len(c.old); size > 2*m.st.phoneGen {
				t.Fatalf("cache holds %d numbers, bound %d", size, 2*m.st.phoneGen)
			}
			if _, ok := c.cur[hot]; !ok {
				t.Fatalf("after %d numbers the hot number left the current generation", i)
			}
		}
	}
}

func TestTextToHTML(t *testing.T) {
	m := mustParse(t, benchMapping)
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text, ünïcödé", "plain text, ünïcödé"},
		{"<b>", "&lt;b&gt;"},
		{"a & b", "a &amp; b"},
		{`"quoted" 'single'`, "&#34;quoted&#34; &#39;single&#39;"},
		{"one\ntwo\r\nthree\rfour\n\n", "one<br>two<br>three<br>four<br><br>"},
		{"end\r", "end<br>"},
	}
	for _, tt := range tests {
		if got := m.textToHTML(tt.in); got != tt.want {
			t.Errorf("textToHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestTargetSlice: slices carved from one block never share elements, even
// when a row appends more targets than it asked room for.
func TestTargetSlice(t *testing.T) {
	st := newState()
	a := st.targetSlice(1)
	b := st.targetSlice(1)
	b = append(b, Target{Raw: "b"})
	a = append(a, Target{Raw: "a1"}, Target{Raw: "a2"}) // past its capacity
	a[0].Raw = "a1!"
	if b[0].Raw != "b" || len(a) != 2 || a[1].Raw != "a2" {
		t.Errorf("a = %+v, b = %+v", a, b)
	}
	if big := st.targetSlice(100); cap(big) != 100 || len(big) != 0 {
		t.Errorf("targetSlice(100): len %d cap %d", len(big), cap(big))
	}
}
