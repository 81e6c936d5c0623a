package mapping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/source"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, region, want, err string
	}{
		{"+44 7700 900123", "", "+447700900123", ""},
		{"07700 900123", "GB", "+447700900123", ""},
		{"07700 900123", "", "", `"07700 900123" has no country code and the association sets no default_region`},
		{"0044 7700 900123", "DE", "+447700900123", ""},
		{"(415) 555-2671", "US", "+14155552671", ""},
		{"1-415-555-2671", "US", "+14155552671", ""},
		{"14155552671", "", "+14155552671", ""},                  // WhatsApp id without +
		{"\u202a+44 7700 900123\u202c", "", "+447700900123", ""}, // bidi-wrapped (Android)
		{"\u200e+1 (415) 555\u20112671", "", "+14155552671", ""}, // LRM + non-breaking hyphen
		{"whatsapp:+5215512345678", "", "+525512345678", ""},     // Mexico legacy 1 dropped
		{"+52 55 1234 5678", "", "+525512345678", ""},
		{"tel:+1-415-555-2671", "", "+14155552671", ""},
		{"~ +1 202-555-0143", "", "+12025550143", ""},
		{"+1 415 555 2671 ext. 12", "", "+14155552671", ""},
		{"۰۹۱۲۳۴۵۶۷۸۹", "IR", "+989123456789", ""},
		{"VERIZON", "US", "", `"VERIZON" is not a phone number (alphanumeric sender id)`},
		{"22395", "US", "", `"22395" is not a possible phone number (short code or wrong length)`},
		{"hash@rcs.google.com", "", "", `"hash@rcs.google.com" is an e-mail address, not a phone number`},
		{"", "DE", "", "empty phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := NormalizePhone(tt.raw, tt.region)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNormalizeLinkedInURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://www.linkedin.com/in/maya-okafor-demo", "linkedin.com/in/maya-okafor-demo"},
		{"https://www.linkedin.com/in/jose-pena-demo/", "linkedin.com/in/jose-pena-demo"},
		{"http://uk.linkedin.com/in/Ravi-Menon-Demo?originalSubdomain=uk#x", "linkedin.com/in/ravi-menon-demo"},
		{"linkedin.com/in/a", "linkedin.com/in/a"},
		{"www.LinkedIn.com/in/a/", "linkedin.com/in/a"},
		{"https://example.com/in/a", ""},
		{"https://www.linkedin.com/", ""},
		{"", ""},
		{"::", ""},
	}
	for _, tt := range tests {
		got, ok := NormalizeLinkedInURL(tt.raw)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("NormalizeLinkedInURL(%q) = %q, %v; want %q", tt.raw, got, ok, tt.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ raw, want string }{
		{" Ben@Example.COM ", "ben@example.com"},
		{"mailto:a@b.c", "a@b.c"},
		{"a@", ""}, {"@b", ""}, {"a@b@c", ""}, {"a b@c", ""}, {"", ""},
	}
	for _, tt := range tests {
		got, ok := NormalizeEmail(tt.raw)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.raw, got, ok, tt.want)
		}
	}
}

func TestIndex(t *testing.T) {
	ix := NewIndex()
	ix.SetRegions("DE")
	ix.Add("contacts", "1", map[string]string{"email": "Ana@Example.com", "phone": "0151 23456789", "hs_linkedin_url": "https://www.linkedin.com/in/ana/"})
	ix.Add("contacts", "2", map[string]string{"mobilephone": "+49 151 99999999", "hs_whatsapp_phone_number": "+4915199999999"})
	ix.Add("contacts", "3", map[string]string{"phone": "+49 (151) 9999-9999", "hs_additional_emails": "x@y.z;Second@Example.com"})
	ix.Add("contacts", "4", map[string]string{"phone": "07700 900123", "hs_calculated_phone_number_country_code": "gb"})
	ix.Add("companies", "10", map[string]string{"domain": "example.com", "phone": "+4930123456"})
	ix.Add("contacts", "", map[string]string{"email": "nobody@example.com"}) // ignored: no id
	ix.AddOwner("100", "Owner@Example.com")
	ix.AddOwner("101", "shared@example.com")
	ix.AddOwner("102", "shared@example.com")

	tests := []struct {
		name string
		t    Target
		want []string
	}{
		{"email", Target{ObjectType: "contacts", By: "email", Value: "ana@example.com"}, []string{"1"}},
		{"additional email", Target{ObjectType: "contacts", By: "email", Value: "second@example.com"}, []string{"3"}},
		{"national phone via region", Target{ObjectType: "contacts", By: "phone", Value: "+4915123456789"}, []string{"1"}},
		{"phone on two contacts", Target{ObjectType: "contacts", By: "phone", Value: "+4915199999999"}, []string{"2", "3"}},
		{"phone via record country", Target{ObjectType: "contacts", By: "phone", Value: "+447700900123"}, []string{"4"}},
		{"linkedin", Target{ObjectType: "contacts", By: "linkedin_url", Value: "linkedin.com/in/ana"}, []string{"1"}},
		{"property", Target{ObjectType: "companies", By: "domain", Value: "example.com"}, []string{"10"}},
		{"other object type", Target{ObjectType: "contacts", By: "domain", Value: "example.com"}, nil},
		{"company phone", Target{ObjectType: "companies", By: "phone", Value: "+4930123456"}, []string{"10"}},
		{"id", Target{ObjectType: "deals", By: "id", Value: "555"}, []string{"555"}},
		{"none", Target{ObjectType: "contacts", By: "email", Value: "who@example.com"}, nil},
		{"no id without owner", Target{ObjectType: "contacts", By: "email", Value: "nobody@example.com"}, nil},
		{"with reason", Target{ObjectType: "contacts", By: "phone", Reason: "not a phone"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ix.Resolve(tt.t)); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
	if id, ok := ix.ResolveOwner("owner@example.com"); !ok || id != "100" {
		t.Errorf("ResolveOwner = %q, %v", id, ok)
	}
	if _, ok := ix.ResolveOwner("shared@example.com"); ok {
		t.Errorf("an e-mail shared by two owners must not resolve")
	}
	if _, ok := ix.ResolveOwner("none@example.com"); ok {
		t.Errorf("unknown owner resolved")
	}
}

func TestLoadContactsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	export := write("export.csv", "\ufeffRecord ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,LinkedIn URL\n"+
		"11,Ana,A,ana@example.com,+49 151 23456789,,https://www.linkedin.com/in/ana\n"+
		"12,Ben,B,,,\"+44 7700 900123\",\n")
	ix := NewIndex()
	n, err := ix.LoadContactsFile(export)
	if err != nil || n != 2 {
		t.Fatalf("LoadContactsFile = %d, %v", n, err)
	}
	if got := ix.Resolve(Target{ObjectType: "contacts", By: "phone", Value: "+447700900123"}); !cmp.Equal(got, []string{"12"}) {
		t.Errorf("mobile = %v", got)
	}
	if got := ix.Resolve(Target{ObjectType: "contacts", By: "linkedin_url", Value: "linkedin.com/in/ana"}); !cmp.Equal(got, []string{"11"}) {
		t.Errorf("linkedin = %v", got)
	}
	props := write("props.csv", "hs_object_id,email,phone\n21,c@example.com,+1 202 555 0143\n")
	if n, err := NewIndex().LoadContactsFile(props); err != nil || n != 1 {
		t.Errorf("property-name header: %d, %v", n, err)
	}
	errs := []struct{ name, body, want string }{
		{"noid.csv", "email,phone\na@b.c,1\n", `noid.csv:1: contacts file has no record id column (want "Record ID" or hs_object_id; columns: email, phone)`},
		{"empty.csv", "", "empty.csv:1: contacts file is empty"},
		{"blankid.csv", "Record ID,Email\n1,a@b.c\n,b@c.d\n", "blankid.csv:3: contact without a record id"},
	}
	for _, e := range errs {
		p := write(e.name, e.body)
		_, err := NewIndex().LoadContactsFile(p)
		if err == nil || !strings.HasSuffix(err.Error(), e.want) {
			t.Errorf("%s: err = %v, want …%s", e.name, err, e.want)
		}
	}
}

func TestIndexPropertiesKinds(t *testing.T) {
	m := mustParse(t, `version: 1
source: {format: linkedin}
associations:
  - {to: contacts, by: linkedin_url, column: counterpart}
  - {to: contacts, by: email, column: x}
  - {to: companies, by: phone, column: y}
  - {to: deals, by: deal_ref, column: z}
  - {to: tickets, by: id, column: w}
`)
	want := map[string][]string{
		"contacts":  {"email", "hs_additional_emails", "hs_linkedin_url"},
		"companies": {"phone"},
		"deals":     {"deal_ref"},
	}
	if diff := cmp.Diff(want, IndexProperties(m)); diff != "" {
		t.Errorf("IndexProperties (-want +got):\n%s", diff)
	}
	if got := IndexProperties(mustParse(t, "version: 1\nsource: {format: twilio}\n")); got != nil {
		t.Errorf("no associations: %v", got)
	}
}

// FuzzParse: no input may panic the loader; errors must carry a position
// or be a read/syntax error.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(testdata, "bad", "*.yaml"))
	seeds = append(seeds, filepath.Join(testdata, "contract.yaml"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "f.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("error without file name: %v", err)
			}
			return
		}
		// A mapping that loads must map arbitrary records without panicking.
		m.Apply(&source.Record{File: "x", Line: 1, Names: []string{"a", "kind", "text"}, Values: []string{"1", "message", "<"}})
		m.Apply(&source.Record{File: "x", Line: 2})
	})
}

// FuzzApply maps arbitrary values through the contract mapping.
func FuzzApply(f *testing.F) {
	f.Add("wa", "2024-05-01 12:00:00", "0151 23456780", "hi\n<b>", "987")
	f.Add("", "2024-10-27 02:30:00", "VERIZON", "", "x")
	f.Add("sms", "2024-03-31 02:30:00", "\u202a+44\u202c", "&", "")
	m, err := Load(filepath.Join(testdata, "contract.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	names := []string{"conversation_id", "channel", "sent_at", "sender", "counterpart_phone", "agent_email", "text", "kind", "company_id"}
	f.Fuzz(func(t *testing.T, ch, ts, phone, text, company string) {
		r := m.Apply(&source.Record{File: "f", Line: 1, Names: names, Values: []string{"c", ch, ts, "s", phone, "", text, "message", company}})
		if r.Err == nil && r.Skipped == "" && len(r.Properties["hs_timestamp"]) != len("2006-01-02T15:04:05.000Z") {
			t.Errorf("bad hs_timestamp %q", r.Properties["hs_timestamp"])
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+44 7700 900123", "07700 900123", "whatsapp:+5215512345678", "~\u00a0+1", "ext", "+"} {
		f.Add(s, "DE")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		if e, err := NormalizePhone(raw, region); err == nil && !strings.HasPrefix(e, "+") {
			t.Errorf("NormalizePhone(%q) = %q without +", raw, e)
		}
	})
}

// BenchmarkApply measures mapping cost per CSV record, the plan cached on
// the shared header. Compare with BenchmarkPropertiesMap, the floor every
// record pays for its own properties map.
func BenchmarkApply(b *testing.B) {
	m := mustParse(b, `version: 1
source: {format: csv, timezone: Europe/Berlin}
communication:
  channel: {column: channel, map: {wa: WHATS_APP, li: LINKEDIN_MESSAGE, sms: SMS}}
  timestamp: {column: sent_at, layout: "2006-01-02 15:04:05"}
  body: {column: text}
key: [conversation_id, sender, sent_at, text]
skip: {column: kind, in: [system, deleted]}
associations:
  - {to: contacts, by: phone, column: counterpart_phone, default_region: DE}
  - {to: companies, by: id, column: company_id}
`)
	names := []string{"conversation_id", "channel", "sent_at", "sender", "counterpart_phone", "agent_email", "text", "kind", "company_id"}
	rec := &source.Record{File: "chats.csv", Names: names,
		Values: []string{"conv-1", "wa", "2024-05-01 12:00:00", "Anna Schmidt", "+49 151 23456780", "a@example.com", "See you on Friday at the office", "message", "987"}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.Line = i
		if r := m.Apply(rec); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

var sink map[string]string

func BenchmarkPropertiesMap(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p := make(map[string]string, 6)
		p["hs_communication_channel_type"] = "WHATS_APP"
		p["hs_timestamp"] = "2024-05-01T10:00:00.000Z"
		p["hs_communication_logged_from"] = "CRM"
		p["hs_communication_body"] = "See you on Friday at the office"
		sink = p
	}
}
