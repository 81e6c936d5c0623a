package mapping

import (
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commlog/commlog/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testdata = "../testdata/mapping"

func mustParse(t testing.TB, yaml string) *Mapping {
	t.Helper()
	m, err := Parse([]byte(yaml), "m.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

// csvRecords builds records that share one Names slice, as a CSV reader does.
func csvRecords(file string, names []string, rows ...[]string) []*source.Record {
	out := make([]*source.Record, len(rows))
	for i, r := range rows {
		out[i] = &source.Record{File: file, Line: i + 2, Names: names, Values: r}
	}
	return out
}

func TestContractMapping(t *testing.T) {
	m, err := Load(filepath.Join(testdata, "contract.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Format(), "csv"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	wantOpts := source.Options{Format: "csv", DateOrder: "DMY",
		Me: []string{"Anna Schmidt", "+49 151 23456789", "https://www.linkedin.com/in/anna-schmidt"}}
	if diff := cmp.Diff(wantOpts, m.SourceOptions(), cmpopts.IgnoreFields(source.Options{}, "Logger")); diff != "" {
		t.Errorf("SourceOptions (-want +got):\n%s", diff)
	}
	if !m.HasAssociations() || !m.OwnerLookup() {
		t.Errorf("HasAssociations=%v OwnerLookup=%v, want both true", m.HasAssociations(), m.OwnerLookup())
	}
	wantProps := []string{"hs_communication_body", "hs_communication_channel_type", "hs_communication_logged_from", "hs_timestamp", "hubspot_owner_id"}
	if diff := cmp.Diff(wantProps, m.PropertyNames()); diff != "" {
		t.Errorf("PropertyNames (-want +got):\n%s", diff)
	}
	wantEnums := map[string][]string{
		"hs_communication_channel_type": {"LINKEDIN_MESSAGE", "SMS", "WHATS_APP"},
		"hs_communication_logged_from":  {"CRM"},
	}
	if diff := cmp.Diff(wantEnums, m.EnumValues()); diff != "" {
		t.Errorf("EnumValues (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"conversation_id", "sender", "sent_at", "text"}, m.KeyFields()); diff != "" {
		t.Errorf("KeyFields (-want +got):\n%s", diff)
	}
	wantIdx := map[string][]string{"contacts": {"hs_calculated_mobile_number", "hs_calculated_phone_number",
		"hs_calculated_phone_number_country_code", "hs_whatsapp_phone_number", "mobilephone", "phone"}}
	if diff := cmp.Diff(wantIdx, IndexProperties(m)); diff != "" {
		t.Errorf("IndexProperties (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"DE"}, m.PhoneRegions()); diff != "" {
		t.Errorf("PhoneRegions (-want +got):\n%s", diff)
	}

	names := []string{"conversation_id", "channel", "sent_at", "sender", "counterpart_phone", "agent_email", "text", "kind", "company_id"}
	recs := csvRecords("chats.csv", names,
		[]string{"c1", "wa", "2024-05-01 12:00:00", "Anna", "0151 23456780", "Agent@Example.com", "Hi <b>Ben</b>\nsee you", "message", "987"},
		[]string{"c1", "wa", "2024-05-01 12:01:00", "Ben", "+49 151 23456780", "", "x", "system", ""},
		[]string{"c1", "sms", "2024-13-01 12:01:00", "Ben", "+49 151 23456780", "", "x", "message", "1"},
	)
	got := m.Apply(recs[0])
	want := Result{File: "chats.csv", Line: 2, Properties: map[string]string{
		"hs_communication_channel_type": "WHATS_APP",
		"hs_timestamp":                  "2024-05-01T10:00:00.000Z",
		"hs_communication_logged_from":  "CRM",
		"hs_communication_body":         "Anna: Hi &lt;b&gt;Ben&lt;/b&gt;<br>see you",
	},
		Targets: []Target{
			{ObjectType: "contacts", By: "phone", Value: "+4915123456780", Raw: "0151 23456780", OnMissing: "unresolved"},
			{ObjectType: "companies", By: "id", Value: "987", Raw: "987", OnMissing: "unresolved"},
		},
		OwnerEmail: "agent@example.com",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Result{}, "Key")); diff != "" {
		t.Errorf("Apply row 2 (-want +got):\n%s", diff)
	}
	if len(got.Key) != 32 || strings.Trim(got.Key, "0123456789abcdef") != "" {
		t.Errorf("Key = %q, want 32 lowercase hex", got.Key)
	}
	if got := m.Apply(recs[1]); got.Skipped != "kind=system" || got.Err != nil || got.Key == "" {
		t.Errorf("row 3 = %+v, want skipped kind=system with a key", got)
	}
	got = m.Apply(recs[2])
	var re *RowError
	if !errors.As(got.Err, &re) {
		t.Fatalf("row 4 Err = %v, want *RowError", got.Err)
	}
	if want := `chats.csv:4: timestamp: "2024-13-01 12:01:00" does not match layout 2006-01-02 15:04:05`; re.Error() != want {
		t.Errorf("row 4 error\n got %s\nwant %s", re, want)
	}
}

// TestBadMappings holds every load error message to a golden file:
// testdata/mapping/bad/X.yaml → X.golden. Run with -update to rewrite.
func TestBadMappings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "bad", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad mappings: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data, filepath.Base(f))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T, want *LoadError", err)
			}
			if le.Line == 0 {
				t.Errorf("error has no position: %v", err)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("message (-golden +got):\n%s", diff)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load missing = %v, want *LoadError wrapping ErrNotExist", err)
	}
}

// Every sample mapping that the source engineer ships must load.
func TestSampleMappingsLoad(t *testing.T) {
	files, _ := filepath.Glob("../samples/*.yaml")
	if len(files) == 0 {
		t.Skip("no samples/*.yaml yet")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Error(err)
			}
		})
	}
}

const base = `version: 1
source: {format: csv, timezone: Europe/Berlin}
`

func TestKeys(t *testing.T) {
	// Every key of the mapping, each in a minimal mapping, with the result
	// of one record.
	names := []string{"ch", "ts", "text", "sender", "owner", "kind", "phone", "email", "li", "co", "prio"}
	comm := "communication:\n  channel: {column: ch, map: {wa: WHATS_APP}}\n  timestamp: {column: ts, layout: \"2006-01-02 15:04:05\"}\n  body: {column: text}\n"
	props := func(extra map[string]string) map[string]string {
		p := map[string]string{"hs_communication_channel_type": "WHATS_APP", "hs_timestamp": "2024-05-01T10:00:00.000Z",
			"hs_communication_logged_from": "CRM", "hs_communication_body": "hello"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name string
		yaml string
		row  []string // nil: the default row
		want Result
	}{
		{"minimal", base + comm, nil, Result{Properties: props(nil)}},
		{"channel constant", base + strings.Replace(comm, "{column: ch, map: {wa: WHATS_APP}}", "SMS", 1), nil,
			Result{Properties: props(map[string]string{"hs_communication_channel_type": "SMS"})}},
		{"channel default", base + strings.Replace(comm, "map: {wa: WHATS_APP}", "map: {x: SMS}, default: LINKEDIN_MESSAGE", 1), nil,
			Result{Properties: props(map[string]string{"hs_communication_channel_type": "LINKEDIN_MESSAGE"})}},
		{"body template", base + strings.Replace(comm, "{column: text}", `{template: "{{ .sender | upper }}: {{ .text }}"}`, 1), nil,
			Result{Properties: props(map[string]string{"hs_communication_body": "BEN: hello"})}},
		{"body scalar template", base + strings.Replace(comm, "{column: text}", `"<{{ .text }}>"`, 1), nil,
			Result{Properties: props(map[string]string{"hs_communication_body": "&lt;hello&gt;"})}},
		{"body html", base + strings.Replace(comm, "{column: text}", `{template: "<p>{{ .text }}</p>", format: html}`, 1), nil,
			Result{Properties: props(map[string]string{"hs_communication_body": "<p>hello</p>"})}},
		{"owner constant", base + comm + "  owner_id: 12345\n", nil,
			Result{Properties: props(map[string]string{"hubspot_owner_id": "12345"})}},
		{"owner column", base + comm + "  owner_id: {column: owner}\n", nil,
			Result{Properties: props(map[string]string{"hubspot_owner_id": "42"})}},
		{"owner lookup", base + comm + "  owner_id: {column: email, lookup: owner_email}\n", nil,
			Result{Properties: props(nil), OwnerEmail: "ben@example.com"}},
		{"properties", base + comm + "  properties:\n    hs_communication_logged_from: INTEGRATION\n    custom_flag: true\n    custom_kind: {column: kind}\n    custom_prio: {column: prio, map: {hi: HIGH}, default: LOW}\n    custom_tpl: {template: \"{{ .sender | lower }}\"}\n", nil,
			Result{Properties: props(map[string]string{"hs_communication_logged_from": "INTEGRATION", "custom_flag": "true",
				"custom_kind": "message", "custom_prio": "HIGH", "custom_tpl": "ben"})}},
		{"skip", base + comm + "skip: {column: sender, in: [Ben]}\n", nil, Result{Skipped: "sender=Ben"}},
		{"skip list", base + comm + "skip:\n  - {column: kind, in: system}\n  - {column: ch, in: [wa]}\n", nil, Result{Skipped: "ch=wa"}},
		{"skip none", base + comm + "skip: none\n", nil, Result{Properties: props(nil)}},
		{"associations", base + comm + `associations:
  - {to: contacts, by: phone, column: phone}
  - {to: contacts, by: email, column: email, on_missing: fail}
  - {to: contacts, by: linkedin_url, column: li}
  - {to: companies, by: id, column: co}
  - {to: deals, by: deal_ref, column: sender}
  - {to: tickets, by: id, column: prio}
`, nil, Result{Properties: props(nil), Targets: []Target{
			{ObjectType: "contacts", By: "phone", Value: "+447700900123", Raw: "+44 7700 900123", OnMissing: "unresolved"},
			{ObjectType: "contacts", By: "email", Value: "ben@example.com", Raw: "Ben@Example.com", OnMissing: "fail"},
			{ObjectType: "contacts", By: "linkedin_url", Value: "linkedin.com/in/ben-demo", Raw: "https://uk.linkedin.com/in/Ben-Demo/?utm=x", OnMissing: "unresolved"},
			{ObjectType: "companies", By: "id", Value: "7", Raw: "7", OnMissing: "unresolved"},
			{ObjectType: "deals", By: "deal_ref", Value: "Ben", Raw: "Ben", OnMissing: "unresolved"},
			{ObjectType: "tickets", By: "id", Raw: "hi", OnMissing: "unresolved", Reason: `"hi" is not a record id (want digits)`},
		}}},
		{"association split and region", base + comm + "associations:\n  - {to: contacts, by: phone, column: phone, split: \";\", default_region: GB}\n",
			[]string{"wa", "2024-05-01 12:00:00", "hello", "Ben", "42", "message", "07700 900123; VERIZON;;", "", "", "", ""},
			Result{Properties: props(nil), Targets: []Target{
				{ObjectType: "contacts", By: "phone", Value: "+447700900123", Raw: "07700 900123", OnMissing: "unresolved"},
				{ObjectType: "contacts", By: "phone", Raw: "VERIZON", OnMissing: "unresolved", Reason: `"VERIZON" is not a phone number (alphanumeric sender id)`},
			}}},
		{"association empty", base + comm + "associations:\n  - {to: companies, by: id, column: co}\n  - {to: deals, by: id, column: co, optional: true}\n",
			[]string{"wa", "2024-05-01 12:00:00", "hello", "Ben", "42", "message", "", "", "", "", ""},
			Result{Properties: props(nil), Targets: []Target{
				{ObjectType: "companies", By: "id", OnMissing: "unresolved", Reason: "co is empty"},
			}}},
		{"timestamp rfc3339", base + strings.Replace(comm, `layout: "2006-01-02 15:04:05"`, "layout: rfc3339", 1),
			[]string{"wa", "2024-05-01T10:00:00.5+02:00", "hello"}, Result{Properties: props(map[string]string{"hs_timestamp": "2024-05-01T08:00:00.500Z"})}},
		{"timestamp epoch_ms", base + strings.Replace(comm, `layout: "2006-01-02 15:04:05"`, "layout: epoch_ms", 1),
			[]string{"wa", "1714557600123", "hello"}, Result{Properties: props(map[string]string{"hs_timestamp": "2024-05-01T10:00:00.123Z"})}},
		{"timestamp epoch_s", base + strings.Replace(comm, `layout: "2006-01-02 15:04:05"`, "layout: epoch_s", 1),
			[]string{"wa", " 1714557600 ", "hello"}, Result{Properties: props(nil)}},
		{"timestamp layout with zone", "version: 1\nsource: {format: csv}\n" + strings.Replace(comm, `layout: "2006-01-02 15:04:05"`, `layout: "02.01.2006 15:04 -0700"`, 1),
			[]string{"wa", "01.05.2024 12:00 +0200", "hello"}, Result{Properties: props(nil)}},
		{"timestamp default layout", base + strings.Replace(comm, `, layout: "2006-01-02 15:04:05"`, "", 1),
			[]string{"wa", "2024-05-01T10:00:00Z", "hello"}, Result{Properties: props(nil)}},
		{"source keys", "version: 1\nsource: {format: csv, timezone: UTC, encoding: windows-1252, delimiter: tab, ambiguous_time: later, date_order: auto, me: Anna}\n" + comm,
			[]string{"wa", "2024-05-01 10:00:00", "hello"}, Result{Properties: props(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.yaml)
			row := tt.row
			if row == nil {
				row = defaultRow
			}
			n := names
			if len(row) < len(n) {
				n = n[:len(row)]
			}
			got := m.Apply(&source.Record{File: "in.csv", Line: 7, Names: n, Values: row})
			tt.want.File, tt.want.Line = "in.csv", 7
			if got.Err != nil {
				t.Fatalf("Apply: %v", got.Err)
			}
			if got.Key == "" {
				t.Errorf("no key")
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Result{}, "Key"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
		})
	}
}

var defaultRow = []string{"wa", "2024-05-01 12:00:00", "hello", "Ben", "42", "message", "+44 7700 900123", "Ben@Example.com",
	"https://uk.linkedin.com/in/Ben-Demo/?utm=x", "7", "hi"}

func TestSourceOptionsKeys(t *testing.T) {
	m := mustParse(t, "version: 1\nsource: {format: whatsapp, timezone: America/New_York, date_order: MDY, me: [\"+1 202 555 0143\"], encoding: UTF-16LE, delimiter: \";\"}\n")
	want := source.Options{Format: "whatsapp", DateOrder: "MDY", Me: []string{"+1 202 555 0143"}, Encoding: "utf-16le", Delimiter: ';'}
	if diff := cmp.Diff(want, m.SourceOptions(), cmpopts.IgnoreFields(source.Options{}, "Logger")); diff != "" {
		t.Errorf("SourceOptions (-want +got):\n%s", diff)
	}
	if m.HasAssociations() || m.OwnerLookup() {
		t.Errorf("HasAssociations/OwnerLookup true for a mapping without them")
	}
}

func TestRowErrors(t *testing.T) {
	names := []string{"ch", "ts", "text", "owner", "kind"}
	comm := base + "communication:\n  channel: {column: ch, map: {wa: WHATS_APP}}\n  timestamp: {column: ts, layout: \"2006-01-02 15:04:05\"}\n  body: {column: text}\n  owner_id: {column: owner}\n"
	tests := []struct {
		name string
		yaml string
		row  []string
		want string
	}{
		{"unmapped channel", comm, []string{"xx", "2024-05-01 12:00:00", "hi", "", ""}, `in.csv:3: channel: "xx" is not in map (mapped: wa)`},
		{"invalid channel", strings.Replace(comm, ", map: {wa: WHATS_APP}", "", 1), []string{"whatsapp", "2024-05-01 12:00:00", "hi", "", ""},
			`in.csv:3: channel: invalid channel "whatsapp" (valid: WHATS_APP, LINKEDIN_MESSAGE, SMS; or add a map)`},
		{"bad time", comm, []string{"wa", "2024-05-01", "hi", "", ""}, `in.csv:3: timestamp: "2024-05-01" does not match layout 2006-01-02 15:04:05`},
		{"empty time", comm, []string{"wa", " ", "hi", "", ""}, `in.csv:3: timestamp: empty`},
		{"empty body", comm, []string{"wa", "2024-05-01 12:00:00", " ", "", "message"},
			`in.csv:3: body: empty (only media rows may have an empty body; set body.allow_empty: true to import empty messages)`},
		{"bad owner", comm, []string{"wa", "2024-05-01 12:00:00", "hi", "bob", ""}, `in.csv:3: owner_id: "bob" is not an owner id (want digits, or set lookup: owner_email)`},
		{"bad owner email", strings.Replace(comm, "{column: owner}", "{column: owner, lookup: owner_email}", 1), []string{"wa", "2024-05-01 12:00:00", "hi", "bob", ""},
			`in.csv:3: owner_id: "bob" is not an e-mail address (owner_id.lookup is owner_email)`},
		{"missing column", strings.Replace(comm, "{column: text}", "{column: body}", 1), []string{"wa", "2024-05-01 12:00:00", "hi", "", ""},
			`in.csv:3: body: field "body" is not in the record (fields: ch, ts, text, owner, kind)`},
		{"missing key field", comm + "key: [ts, nope]\n", []string{"wa", "2024-05-01 12:00:00", "hi", "", ""},
			`in.csv:3: key: field "nope" is not in the record (fields: ch, ts, text, owner, kind)`},
		{"template missing field", strings.Replace(comm, "{column: text}", `{template: "{{ .text }} {{ .nope }}"}`, 1), []string{"wa", "2024-05-01 12:00:00", "hi", "", ""},
			`in.csv:3: body: template: field "nope" is not in the record (fields: ch, ts, text, owner, kind)`},
		{"missing association column", comm + "associations: [{to: contacts, by: email, column: mail}]\n", []string{"wa", "2024-05-01 12:00:00", "hi", "", ""},
			`in.csv:3: associations[0]: field "mail" is not in the record (fields: ch, ts, text, owner, kind)`},
		{"epoch not a number", strings.Replace(comm, `layout: "2006-01-02 15:04:05"`, "layout: epoch_ms", 1), []string{"wa", "12a", "hi", "", ""},
			`in.csv:3: timestamp: "12a" is not an integer (layout epoch_ms)`},
		{"rfc3339 without offset", strings.Replace(comm, `layout: "2006-01-02 15:04:05"`, "layout: rfc3339", 1), []string{"wa", "2024-05-01T10:00:00", "hi", "", ""},
			`in.csv:3: timestamp: "2024-05-01T10:00:00" is not RFC 3339 with an offset (such as 2024-05-01T10:00:00Z or 2024-05-01T12:00:00+02:00)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.yaml)
			got := m.Apply(&source.Record{File: "in.csv", Line: 3, Names: names, Values: tt.row})
			if got.Err == nil {
				t.Fatalf("Apply succeeded: %+v", got)
			}
			if got.Err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", got.Err, tt.want)
			}
			if got.Properties != nil || got.Targets != nil {
				t.Errorf("invalid row kept properties or targets: %+v", got)
			}
		})
	}
	// A record the reader could not parse.
	m := mustParse(t, comm)
	got := m.Apply(&source.Record{File: "in.csv", Line: 9, Err: &source.RowError{File: "in.csv", Line: 9, Msg: "wrong number of fields"}})
	var se *source.RowError
	if got.Err == nil || got.Err.Error() != "in.csv:9: wrong number of fields" || !errors.As(got.Err, &se) {
		t.Errorf("reader error = %v, want in.csv:9: wrong number of fields wrapping *source.RowError", got.Err)
	}
}

func TestMediaMayHaveEmptyBody(t *testing.T) {
	m := mustParse(t, "version: 1\nsource: {format: whatsapp, timezone: Europe/Berlin}\n")
	got := m.Apply(&source.Record{File: "chat.txt", Line: 4, Names: []string{"channel", "local_time", "text", "kind"},
		Values: []string{"WHATS_APP", "2024-05-01T12:00:00", "", "media"}})
	if got.Err != nil || got.Properties["hs_communication_body"] != "" {
		t.Errorf("media row = %+v, want valid with empty body", got)
	}
	m = mustParse(t, base+"communication: {channel: SMS, timestamp: {column: ts}, body: {column: text, allow_empty: true}}\n")
	got = m.Apply(&source.Record{File: "in.csv", Line: 2, Names: []string{"ts", "text"}, Values: []string{"2024-05-01T12:00:00Z", ""}})
	if got.Err != nil {
		t.Errorf("allow_empty row: %v", got.Err)
	}
}

func TestChatDefaults(t *testing.T) {
	names := []string{source.FieldConversationID, source.FieldSender, source.FieldSenderID, source.FieldCounterpart, source.FieldTime,
		source.FieldLocalTime, source.FieldText, source.FieldAttachments, source.FieldKind, source.FieldChannel}
	m := mustParse(t, `version: 1
source: {format: whatsapp, timezone: Europe/Berlin, date_order: DMY}
associations:
  - {to: contacts, by: phone, column: counterpart}
`)
	rows := [][]string{
		{"chat", "Ben", "+4915123456780", "+4915123456780", "", "2024-05-01T12:00:00", "a & b\r\nc", "", "message", "WHATS_APP"},
		{"chat", "Ben", "+4915123456780", "+4915123456780", "", "2024-05-01T12:00:00", "", "", "system", "WHATS_APP"},
		{"chat", "Ben", "+4915123456780", "+4915123456780", "", "2024-05-01T12:00:00", "gone", "", "deleted", "WHATS_APP"},
		{"chat", "Ben", "+4915123456780", "+4915123456780", "2024-05-01T10:00:00.250Z", "", "x", "", "message", "LINKEDIN_MESSAGE"},
	}
	recs := csvRecords("chat.txt", names, rows...)
	got := m.Apply(recs[0])
	want := Result{File: "chat.txt", Line: 2, Properties: map[string]string{
		"hs_communication_channel_type": "WHATS_APP", "hs_timestamp": "2024-05-01T10:00:00.000Z",
		"hs_communication_logged_from": "CRM", "hs_communication_body": "a &amp; b<br>c"},
		Targets: []Target{{ObjectType: "contacts", By: "phone", Value: "+4915123456780", Raw: "+4915123456780", OnMissing: "unresolved"}}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Result{}, "Key")); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if got := m.Apply(recs[1]); got.Skipped != "kind=system" {
		t.Errorf("system row: Skipped = %q", got.Skipped)
	}
	if got := m.Apply(recs[2]); got.Skipped != "kind=deleted" {
		t.Errorf("deleted row: Skipped = %q", got.Skipped)
	}
	if got := m.Apply(recs[3]); got.Err != nil || got.Properties["hs_timestamp"] != "2024-05-01T10:00:00.250Z" {
		t.Errorf("time row = %+v", got)
	}
	want2 := []string{"conversation_id", "sender", "sender_id", "channel", "time", "local_time", "text", "attachments", "counterpart"}
	if diff := cmp.Diff(want2, m.KeyFields()); diff != "" {
		t.Errorf("default chat key (-want +got):\n%s", diff)
	}
}

func TestDST(t *testing.T) {
	layout := "communication: {channel: SMS, timestamp: {column: ts, layout: \"2006-01-02 15:04\"}, body: {column: text}}\n"
	tests := []struct {
		name, zone, ambiguous, in string
		want, note, err           string
	}{
		{"summer", "Europe/Berlin", "", "2024-07-01 12:00", "2024-07-01T10:00:00.000Z", "", ""},
		{"winter", "Europe/Berlin", "", "2024-01-01 12:00", "2024-01-01T11:00:00.000Z", "", ""},
		{"gap", "Europe/Berlin", "", "2024-03-31 02:30", "", "",
			`in.csv:2: timestamp: "2024-03-31 02:30" does not exist in Europe/Berlin (skipped by the DST change); the source.timezone may be wrong`},
		{"gap even with earlier", "Europe/Berlin", "earlier", "2024-03-31 02:00", "", "",
			`in.csv:2: timestamp: "2024-03-31 02:00" does not exist in Europe/Berlin (skipped by the DST change); the source.timezone may be wrong`},
		{"just after gap", "Europe/Berlin", "", "2024-03-31 03:00", "2024-03-31T01:00:00.000Z", "", ""},
		{"overlap error", "Europe/Berlin", "", "2024-10-27 02:30", "", "",
			`in.csv:2: timestamp: "2024-10-27 02:30" is ambiguous in Europe/Berlin (DST overlap): 2024-10-27T00:30:00Z or 2024-10-27T01:30:00Z; set source.ambiguous_time to earlier or later`},
		{"overlap earlier", "Europe/Berlin", "earlier", "2024-10-27 02:30", "2024-10-27T00:30:00.000Z",
			`timestamp "2024-10-27 02:30" is ambiguous in Europe/Berlin (DST overlap); took the earlier instant 2024-10-27T00:30:00Z (source.ambiguous_time: earlier)`, ""},
		{"overlap later", "Europe/Berlin", "later", "2024-10-27 02:00", "2024-10-27T01:00:00.000Z",
			`timestamp "2024-10-27 02:00" is ambiguous in Europe/Berlin (DST overlap); took the later instant 2024-10-27T01:00:00Z (source.ambiguous_time: later)`, ""},
		{"after overlap", "Europe/Berlin", "", "2024-10-27 03:00", "2024-10-27T02:00:00.000Z", "", ""},
		{"before overlap", "Europe/Berlin", "", "2024-10-27 01:59", "2024-10-26T23:59:00.000Z", "", ""},
		{"new york gap", "America/New_York", "", "2024-03-10 02:15", "", "",
			`in.csv:2: timestamp: "2024-03-10 02:15" does not exist in America/New_York (skipped by the DST change); the source.timezone may be wrong`},
		{"new york overlap", "America/New_York", "later", "2024-11-03 01:30", "2024-11-03T06:30:00.000Z",
			`timestamp "2024-11-03 01:30" is ambiguous in America/New_York (DST overlap); took the later instant 2024-11-03T06:30:00Z (source.ambiguous_time: later)`, ""},
		{"lord howe half hour overlap", "Australia/Lord_Howe", "earlier", "2024-04-07 01:45", "2024-04-06T14:45:00.000Z",
			`timestamp "2024-04-07 01:45" is ambiguous in Australia/Lord_Howe (DST overlap); took the earlier instant 2024-04-06T14:45:00Z (source.ambiguous_time: earlier)`, ""},
		{"utc", "UTC", "", "2024-10-27 02:30", "2024-10-27T02:30:00.000Z", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "version: 1\nsource: {format: csv, timezone: " + tt.zone
			if tt.ambiguous != "" {
				y += ", ambiguous_time: " + tt.ambiguous
			}
			m := mustParse(t, y+"}\n"+layout)
			got := m.Apply(&source.Record{File: "in.csv", Line: 2, Names: []string{"ts", "text"}, Values: []string{tt.in, "x"}})
			if tt.err != "" {
				if got.Err == nil || got.Err.Error() != tt.err {
					t.Errorf("error\n got %v\nwant %s", got.Err, tt.err)
				}
				return
			}
			if got.Err != nil {
				t.Fatal(got.Err)
			}
			if got.Properties["hs_timestamp"] != tt.want {
				t.Errorf("hs_timestamp = %s, want %s", got.Properties["hs_timestamp"], tt.want)
			}
			var wantNotes []string
			if tt.note != "" {
				wantNotes = []string{tt.note}
			}
			if diff := cmp.Diff(wantNotes, got.Notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTemplateFuncs(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{`{{ .a | trim }}`, "x y"},
		{`{{ .a | upper }}`, " X Y "},
		{`{{ .b | lower }}`, "mixed"},
		{`{{ .empty | default "n/a" }}`, "n/a"},
		{`{{ .b | default "n/a" }}`, "MiXeD"},
		{`{{ .u | truncate 3 }}`, "äöü"},
		{`{{ truncate 10 .u }}`, "äöüß"},
		{`{{ if eq .b "MiXeD" }}yes{{ else }}no{{ end }}`, "yes"},
		{`{{ index . "with space" }}`, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			m := mustParse(t, base+"communication: {channel: SMS, timestamp: {column: ts, layout: epoch_s}, body: {template: '"+tt.tmpl+"', format: html}}\n")
			got := m.Apply(&source.Record{File: "f", Line: 1, Names: []string{"ts", "a", "b", "empty", "u", "with space"},
				Values: []string{"0", " x y ", "MiXeD", "", "äöüß", "ok"}})
			if got.Err != nil {
				t.Fatal(got.Err)
			}
			if b := got.Properties["hs_communication_body"]; b != tt.want {
				t.Errorf("body = %q, want %q", b, tt.want)
			}
		})
	}
}

func TestKeyOccurrence(t *testing.T) {
	m := mustParse(t, base+"communication: {channel: SMS, timestamp: {column: ts}, body: {column: text}}\nkey: [ts, text]\n")
	names := []string{"ts", "text"}
	rec := func(file, ts, text string) *source.Record {
		return &source.Record{File: file, Line: 1, Names: names, Values: []string{ts, text}}
	}
	k := func(r *source.Record) string { return m.Apply(r).Key }
	a1 := k(rec("a.txt", "2024-05-01T10:00:00Z", "ok"))
	a2 := k(rec("a.txt", "2024-05-01T10:00:00Z", "ok"))
	a3 := k(rec("a.txt", "2024-05-01T10:00:00Z", "ok"))
	b := k(rec("a.txt", "2024-05-01T10:00:00Z", "other"))
	a1again := k(rec("a.txt", "2024-05-01T10:00:00Z", "ok"))
	other1 := k(rec("b.txt", "2024-05-01T10:00:00Z", "ok"))
	other2 := k(rec("b.txt", "2024-05-01T10:00:00Z", "ok"))
	if a1 == a2 || a2 == a3 || a1 == a3 {
		t.Errorf("consecutive identical messages share a key: %s %s %s", a1, a2, a3)
	}
	if b == a1 || a1again != a1 {
		t.Errorf("after a different record the counter must restart: %s vs %s", a1again, a1)
	}
	if other1 != a1 || other2 != a2 {
		t.Errorf("the same messages in another file must get the same keys (dedupe)")
	}
	// Clones share configuration but count on their own.
	c := m.Clone()
	if got := c.Apply(rec("a.txt", "2024-05-01T10:00:00Z", "ok")).Key; got != a1 {
		t.Errorf("clone key = %s, want %s", got, a1)
	}
	// The key depends on the field names, not just values.
	m2 := mustParse(t, base+"communication: {channel: SMS, timestamp: {column: ts}, body: {column: text}}\nkey: [text, ts]\n")
	if got := m2.Apply(rec("a.txt", "2024-05-01T10:00:00Z", "ok")).Key; got == a1 {
		t.Errorf("key order must matter")
	}
}

func TestPlanCache(t *testing.T) {
	m := mustParse(t, base+"communication: {channel: SMS, timestamp: {column: ts}, body: {column: text}}\n")
	h1 := []string{"ts", "text"}
	h2 := []string{"text", "ts"}
	r1 := m.Apply(&source.Record{File: "a", Line: 1, Names: h1, Values: []string{"2024-05-01T10:00:00Z", "one"}})
	r2 := m.Apply(&source.Record{File: "b", Line: 1, Names: h2, Values: []string{"two", "2024-05-01T11:00:00Z"}})
	r3 := m.Apply(&source.Record{File: "a", Line: 2, Names: h1, Values: []string{"2024-05-01T12:00:00Z", "three"}})
	for i, r := range []Result{r1, r2, r3} {
		if r.Err != nil {
			t.Fatalf("row %d: %v", i, r.Err)
		}
	}
	if r2.Properties["hs_communication_body"] != "two" || r3.Properties["hs_communication_body"] != "three" {
		t.Errorf("plan not rebuilt on a new header: %v / %v", r2.Properties, r3.Properties)
	}
	// Short rows (fewer values than names) read as empty, not a panic.
	r4 := m.Apply(&source.Record{File: "a", Line: 3, Names: h1, Values: []string{"2024-05-01T12:00:00Z"}})
	if r4.Err == nil || !strings.Contains(r4.Err.Error(), "body: empty") {
		t.Errorf("short row: %v", r4.Err)
	}
	// No names at all.
	r5 := m.Apply(&source.Record{File: "a", Line: 4})
	if r5.Err == nil {
		t.Errorf("record without fields should be invalid")
	}
}

func TestAppendHubSpotTime(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -3600)),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(-1, 0),
	} {
		want := ts.UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(appendHubSpotTime(nil, ts)); got != want {
			t.Errorf("appendHubSpotTime(%v) = %s, want %s", ts, got, want)
		}
	}
	// Days from year 0 to 10000, 1–13 days apart, each at a random time.
	rng := rand.New(rand.NewPCG(1, 2))
	for ts := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC); ts.Year() <= 10000; ts = ts.AddDate(0, 0, 1+rng.IntN(13)) {
		u := ts.Add(time.Duration(rng.Int64N(86400e9))).Round(time.Millisecond / 10)
		want := u.Format("2006-01-02T15:04:05.000Z")
		if got := string(appendHubSpotTime(nil, u)); got != want {
			t.Fatalf("appendHubSpotTime(%v) = %s, want %s", u, got, want)
		}
	}
}
