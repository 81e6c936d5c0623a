package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAuth(t *testing.T) {
	h := start(t, Options{Token: "pat-secret"})
	h.must(200, "GET", "/crm/v3/objects/communications", nil)
	for _, tok := range []string{"", "wrong"} {
		h.tok = tok
		r := h.must(401, "GET", "/crm/v3/objects/communications", nil)
		if r.str("category") != "INVALID_AUTHENTICATION" || !strings.HasPrefix(r.str("message"), "Authentication credentials not found") || r.str("status") != "error" {
			t.Errorf("401 body: %s", r.raw)
		}
	}
}

func TestRateLimits(t *testing.T) {
	c := newClock()
	h := start(t, Options{Tier: "free", Burst: 3, Daily: 6, SearchPerSecond: 2, Now: c.Now, Token: "t"})
	var last reply
	for i := range 3 {
		last = h.must(200, "GET", "/crm/v3/objects/communications", nil)
		if got := last.header.Get("X-HubSpot-RateLimit-Remaining"); got != string(rune('2'-i)) {
			t.Errorf("request %d: remaining = %q", i, got)
		}
	}
	wantHeaders := map[string]string{"X-Hubspot-Ratelimit-Max": "3", "X-Hubspot-Ratelimit-Remaining": "0",
		"X-Hubspot-Ratelimit-Interval-Milliseconds": "10000", "X-Hubspot-Ratelimit-Daily": "6", "X-Hubspot-Ratelimit-Daily-Remaining": "3"}
	got := map[string]string{}
	for k := range wantHeaders {
		got[k] = last.header.Get(k)
	}
	if diff := cmp.Diff(wantHeaders, got); diff != "" {
		t.Errorf("limit headers (-want +got):\n%s", diff)
	}
	r := h.must(429, "GET", "/crm/v3/objects/communications", nil)
	if r.str("errorType") != "RATE_LIMIT" || r.str("policyName") != "TEN_SECONDLY_ROLLING" ||
		r.str("message") != "You have reached your ten_secondly_rolling limit." || r.str("requestId") == "" || r.str("correlationId") == "" {
		t.Errorf("429 body: %s", r.raw)
	}
	if r.header.Get("Retry-After") != "" {
		t.Error("Retry-After sent without Options.RetryAfter")
	}
	// Search has its own per-second limit and no headers.
	h.must(200, "POST", "/crm/v3/objects/communications/search", map[string]any{})
	h.must(200, "POST", "/crm/v3/objects/communications/search", map[string]any{})
	s := h.must(429, "POST", "/crm/v3/objects/communications/search", map[string]any{})
	if s.str("policyName") != "SECONDLY" || s.str("message") != "You have reached your secondly limit." || s.header.Get("X-HubSpot-RateLimit-Max") != "" {
		t.Errorf("search 429: %s %v", s.raw, s.header)
	}
	c.Add(10 * time.Second) // window rolls; daily: 3 + 2 searches + this one = 6
	h.must(200, "GET", "/crm/v3/objects/communications", nil)
	d := h.must(429, "GET", "/crm/v3/objects/communications", nil)
	if d.str("policyName") != "DAILY" || d.str("message") != "You have reached your daily limit." {
		t.Errorf("daily 429: %s", d.raw)
	}
	c.Add(24 * time.Hour)
	h.must(200, "GET", "/crm/v3/objects/communications", nil)
	if st := h.srv.Stats(); st.RateLimited != 3 || st.Requests != 10 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetryAfterOption(t *testing.T) {
	c := newClock()
	h := start(t, Options{Burst: 1, Now: c.Now, RetryAfter: true})
	h.must(200, "GET", "/crm/v3/objects/contacts", nil)
	c.Add(2500 * time.Millisecond)
	if got := h.must(429, "GET", "/crm/v3/objects/contacts", nil).header.Get("Retry-After"); got != "8" {
		t.Errorf("Retry-After = %q, want 8", got)
	}
}

func TestFaults(t *testing.T) {
	h := start(t, Options{Seed: 7})
	post := func() (*http.Response, error) {
		b, _ := json.Marshal(inputs(comm("x")))
		return h.ts.Client().Post(h.ts.URL+"/crm/v3/objects/communications/batch/create", "application/json", strings.NewReader(string(b)))
	}
	tests := []struct {
		name       string
		faults     Faults
		wantErr    bool
		wantStatus []int
		wantStored int
	}{
		{"reset: not applied, no response", Faults{Reset: 1}, true, nil, 0},
		{"drop: applied, no response", Faults{Drop: 1}, true, nil, 1},
		{"5xx: not applied", Faults{Rate5xx: 1}, false, []int{500, 502, 503}, 0},
		{"429: not applied", Faults{Rate429: 1}, false, []int{429}, 0},
		{"slow: applied", Faults{Slow: 1, SlowDelay: time.Millisecond}, false, []int{201}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.srv.Objects("communications", false))
			h.srv.SetFaults(tt.faults)
			defer h.srv.SetFaults(Faults{})
			resp, err := post()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if !containsInt(tt.wantStatus, resp.StatusCode) {
					t.Errorf("status %d, want one of %v", resp.StatusCode, tt.wantStatus)
				}
			}
			if got := len(h.srv.Objects("communications", false)) - before; got != tt.wantStored {
				t.Errorf("stored %d, want %d", got, tt.wantStored)
			}
		})
	}
	if st := h.srv.Stats(); st.FaultsInjected != 5 {
		t.Errorf("faults_injected = %d", st.FaultsInjected)
	}
}

func containsInt(v []int, x int) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// The same seed injects the same faults into the same request sequence.
func TestFaultsSeeded(t *testing.T) {
	run := func(seed int64) []faultKind {
		d := newDice(seed, Faults{Rate5xx: 0.2, Rate429: 0.2, Reset: 0.1, Drop: 0.1, Slow: 0.1})
		var out []faultKind
		for range 200 {
			out = append(out, d.roll())
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed differs:\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("different seeds gave the same faults")
	}
	counts := map[faultKind]int{}
	for _, k := range a {
		counts[k]++
	}
	if counts[faultNone] < 40 || counts[fault5xx] < 15 {
		t.Errorf("implausible distribution: %v", counts)
	}
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		spec    string
		want    Faults
		wantErr string
	}{
		{"", Faults{}, ""},
		{"none", Faults{}, ""},
		{"5xx=0.02,429=0.01,reset=0.01,drop=0.01,slow=0.01", Faults{Rate5xx: 0.02, Rate429: 0.01, Reset: 0.01, Drop: 0.01, Slow: 0.01}, ""},
		{" drop=0.5 , slowdelay=3s ", Faults{Drop: 0.5, SlowDelay: 3 * time.Second}, ""},
		{"5xx", Faults{}, "want name=rate"},
		{"5xx=2", Faults{}, "between 0 and 1"},
		{"boom=0.1", Faults{}, "unknown fault"},
		{"5xx=0.6,drop=0.6", Faults{}, "more than 1"},
		{"slowdelay=soon", Faults{}, "duration"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseFaults(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			back, err := ParseFaults(got.String())
			if err != nil || !cmp.Equal(back, got) {
				t.Errorf("String() round trip: %q → %+v, %v", got.String(), back, err)
			}
		})
	}
}

func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{"", "5xx=0.02,429=0.01", "drop=1", "slowdelay=1s,slow=0.5", "=,=", "5xx=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		fl, err := ParseFaults(spec)
		if err != nil {
			return
		}
		if sum := fl.Rate5xx + fl.Rate429 + fl.Reset + fl.Drop + fl.Slow; !(sum >= 0 && sum <= 1) {
			t.Errorf("accepted %q with rates summing to %v", spec, sum)
		}
	})
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	open := func() *Server {
		s, err := New(Options{StateDir: dir, Contacts: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := open()
	h1 := &harness{t: t, srv: s1}
	h1.ts = newTS(t, s1)
	h1.must(201, "POST", "/crm/v3/properties/communications/groups", map[string]any{"name": "g", "label": "G"})
	h1.must(201, "POST", "/crm/v3/properties/communications", map[string]any{"name": "commlog_key", "label": "k", "type": "string", "fieldType": "text", "groupName": "g", "hasUniqueValue": true})
	contact := s1.Objects("contacts", false)[0].ID
	in := comm("kept", "commlog_key", "A")
	in["associations"] = []any{map[string]any{"to": map[string]any{"id": contact}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}}}}
	h1.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(in, comm("archived", "commlog_key", "B")))
	h1.must(204, "DELETE", "/crm/v3/objects/communications/"+s1.Objects("communications", false)[1].ID, nil)
	want := s1.Objects("communications", true)
	wantContacts := s1.Objects("contacts", true)

	// kill -9: no Close, no snapshot; only the log survives.
	s2 := open()
	if diff := cmp.Diff(want, s2.Objects("communications", true)); diff != "" {
		t.Errorf("after crash (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantContacts, s2.Objects("contacts", true)); diff != "" {
		t.Errorf("contacts re-seeded or lost after crash (-want +got):\n%s", diff)
	}
	// Graceful restart: snapshot, empty log; ids keep growing; unique index rebuilt.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, walName)); err != nil || fi.Size() != 0 {
		t.Errorf("log after Close: %v %v", fi, err)
	}
	s3 := open()
	defer s3.Close()
	if diff := cmp.Diff(want, s3.Objects("communications", true)); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	h3 := &harness{t: t, srv: s3, ts: newTS(t, s3)}
	h3.must(200, "GET", "/crm/v3/properties/communications/groups/g", nil)
	h3.must(409, "POST", "/crm/v3/objects/communications", comm("dup", "commlog_key", "A"))
	id := h3.must(201, "POST", "/crm/v3/objects/communications", comm("new", "commlog_key", "B")).str("id")
	if id <= want[len(want)-1].ID {
		t.Errorf("id %s not above %s", id, want[len(want)-1].ID)
	}
	// A write torn by a crash is skipped.
	f, _ := os.OpenFile(filepath.Join(dir, walName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`[{"op":"put","t":"communications","o":{"id":9`)
	f.Close()
	s4, err := New(Options{StateDir: dir})
	if err != nil {
		t.Fatalf("torn tail: %v", err)
	}
	if n := len(s4.Objects("communications", true)); n != 3 {
		t.Errorf("after torn tail: %d communications, want 3", n)
	}
	s4.Close()
	// Corruption before the last line is an error, not silent loss.
	os.WriteFile(filepath.Join(dir, walName), []byte("garbage\n[]\n"), 0o644)
	if _, err := New(Options{StateDir: dir}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt log: err = %v", err)
	}
}

func TestResetAndStatsEndpoints(t *testing.T) {
	h := start(t, Options{Contacts: 20, Seed: 3})
	st := h.must(200, "GET", "/__sandbox/stats", nil)
	for _, k := range []string{"requests", "rate_limited", "faults_injected", "objects.contacts", "objects.communications", "objects.communications_archived", "objects.companies"} {
		if st.get(k) == nil {
			t.Errorf("stats lacks %s: %s", k, st.raw)
		}
	}
	if st.get("objects.contacts") != float64(20) {
		t.Errorf("seeded contacts: %s", st.raw)
	}
	h.must(201, "POST", "/crm/v3/objects/communications", comm("x"))
	h.must(200, "POST", "/__sandbox/reset", nil)
	got := h.srv.Stats()
	if got.Objects["communications"] != 0 || got.Objects["contacts"] != 20 {
		t.Errorf("after reset: %+v", got)
	}
	for _, c := range h.srv.Objects("contacts", false) {
		p := c.Properties
		if p["email"] == "" || !strings.HasPrefix(p["hs_whatsapp_phone_number"], "+") || !strings.HasPrefix(p["hs_linkedin_url"], "https://www.linkedin.com/in/") ||
			p["hs_calculated_mobile_number"] != p["mobilephone"] || len(c.Associations["companies"]) != 1 {
			t.Errorf("seeded contact %s lacks demo data: %v %v", c.ID, p, c.Associations)
		}
	}
}

func TestContactsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "contacts.csv")
	os.WriteFile(file, []byte("Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,LinkedIn URL\n"+
		"1,Ana,Silva,ana@example.com,+44 20 7946 0958,+49 151 23456789,linkedin.com/in/ana\n"+
		"2,Ben,Okafor,ben@example.com,,,\n"), 0o644)
	s, err := New(Options{ContactsFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := s.Objects("contacts", false)
	if len(got) != 2 {
		t.Fatalf("%d contacts", len(got))
	}
	p := got[0].Properties
	want := map[string]string{"firstname": "Ana", "email": "ana@example.com", "hs_calculated_phone_number": "+442079460958",
		"hs_calculated_phone_number_country_code": "GB", "hs_searchable_calculated_phone_number": "2079460958",
		"hs_calculated_mobile_number": "+4915123456789", "hs_linkedin_url": "linkedin.com/in/ana"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	os.WriteFile(file, []byte("email,shoe_size\nx@example.com,42\n"), 0o644)
	if _, err := New(Options{ContactsFile: file}); err == nil || !strings.Contains(err.Error(), `contacts.csv:1: column "shoe_size"`) {
		t.Errorf("bad header: %v", err)
	}
	os.WriteFile(file, []byte("email\nx@example.com\nx@example.com\n"), 0o644)
	if _, err := New(Options{ContactsFile: file}); err == nil || !strings.Contains(err.Error(), "contacts.csv:3") {
		t.Errorf("duplicate email: %v", err)
	}
	if _, err := New(Options{ContactsFile: filepath.Join(dir, "missing.csv")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
