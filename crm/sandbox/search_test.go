package sandbox

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func searchBody(groups ...[]map[string]any) map[string]any {
	var fg []any
	for _, g := range groups {
		fg = append(fg, map[string]any{"filters": g})
	}
	return map[string]any{"filterGroups": fg, "properties": []string{"hs_communication_body"}, "limit": 100}
}

func f(prop, op string, v ...any) map[string]any {
	m := map[string]any{"propertyName": prop, "operator": op}
	switch {
	case op == "IN" || op == "NOT_IN":
		m["values"] = v
	case op == "BETWEEN":
		m["value"], m["highValue"] = v[0], v[1]
	case len(v) > 0:
		m["value"] = v[0]
	}
	return m
}

func bodies(r reply) []string {
	out := []string{}
	for _, res := range r.get("results").([]any) {
		out = append(out, fmt.Sprint(jpath(res, "properties.hs_communication_body")))
	}
	return out
}

func TestSearchFilters(t *testing.T) {
	h := start(t, Options{})
	var in []map[string]any
	for i, ch := range []string{"WHATS_APP", "SMS", "LINKEDIN_MESSAGE", "WHATS_APP"} {
		in = append(in, comm(fmt.Sprintf("body %d hello-world", i), "hs_communication_channel_type", ch,
			"hs_timestamp", fmt.Sprint(time.Date(2024, 5, 1+i, 10, 0, 0, 0, time.UTC).UnixMilli())))
	}
	in[2]["properties"].(map[string]any)["hubspot_owner_id"] = "75000001"
	h.must(201, "POST", "/crm/v3/objects/communications/batch/create", map[string]any{"inputs": in})
	tests := []struct {
		name string
		body map[string]any
		want []string
	}{
		{"EQ enum, case-insensitive", searchBody([]map[string]any{f("hs_communication_channel_type", "EQ", "whats_app")}), []string{"body 0 hello-world", "body 3 hello-world"}},
		{"NEQ", searchBody([]map[string]any{f("hs_communication_channel_type", "NEQ", "WHATS_APP")}), []string{"body 1 hello-world", "body 2 hello-world"}},
		{"IN", searchBody([]map[string]any{f("hs_communication_channel_type", "IN", "SMS", "LINKEDIN_MESSAGE")}), []string{"body 1 hello-world", "body 2 hello-world"}},
		{"IN, case-insensitive", searchBody([]map[string]any{f("hs_communication_channel_type", "IN", "sms", "Linkedin_Message")}), []string{"body 1 hello-world", "body 2 hello-world"}},
		{"IN datetime, as instants", searchBody([]map[string]any{f("hs_timestamp", "IN", "1714644000000", "2024-05-03T10:00:00Z")}), []string{"body 1 hello-world", "body 2 hello-world"}},
		{"NOT_IN", searchBody([]map[string]any{f("hs_communication_channel_type", "NOT_IN", "SMS", "LINKEDIN_MESSAGE")}), []string{"body 0 hello-world", "body 3 hello-world"}},
		{"BETWEEN epoch ms", searchBody([]map[string]any{f("hs_timestamp", "BETWEEN", "1714644000000", "1714730400000")}), []string{"body 1 hello-world", "body 2 hello-world"}},
		{"GTE ISO", searchBody([]map[string]any{f("hs_timestamp", "GTE", "2024-05-03T10:00:00Z")}), []string{"body 2 hello-world", "body 3 hello-world"}},
		{"LT number value", searchBody([]map[string]any{f("hs_timestamp", "LT", 1714644000000)}), []string{"body 0 hello-world"}},
		{"HAS_PROPERTY", searchBody([]map[string]any{f("hubspot_owner_id", "HAS_PROPERTY")}), []string{"body 2 hello-world"}},
		{"NOT_HAS_PROPERTY", searchBody([]map[string]any{f("hubspot_owner_id", "NOT_HAS_PROPERTY")}), []string{"body 0 hello-world", "body 1 hello-world", "body 3 hello-world"}},
		{"CONTAINS_TOKEN", searchBody([]map[string]any{f("hs_communication_body", "CONTAINS_TOKEN", "3")}), []string{"body 3 hello-world"}},
		{"CONTAINS_TOKEN wildcard", searchBody([]map[string]any{f("hs_communication_body", "CONTAINS_TOKEN", "hel*")}), []string{"body 0 hello-world", "body 1 hello-world", "body 2 hello-world", "body 3 hello-world"}},
		{"groups OR, filters AND", searchBody(
			[]map[string]any{f("hs_communication_channel_type", "EQ", "SMS")},
			[]map[string]any{f("hs_communication_channel_type", "EQ", "WHATS_APP"), f("hs_timestamp", "GT", "2024-05-02T00:00:00Z")}),
			[]string{"body 1 hello-world", "body 3 hello-world"}},
		{"sort descending", func() map[string]any {
			b := searchBody()
			b["sorts"] = []any{map[string]any{"propertyName": "hs_timestamp", "direction": "DESCENDING"}}
			return b
		}(), []string{"body 3 hello-world", "body 2 hello-world", "body 1 hello-world", "body 0 hello-world"}},
		{"sort as string", func() map[string]any {
			b := searchBody()
			b["sorts"] = []any{"-hs_timestamp"}
			b["limit"] = 1
			return b
		}(), []string{"body 3 hello-world"}},
		{"query", map[string]any{"query": "body 2", "properties": []string{"hs_communication_body"}}, []string{"body 2 hello-world"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.must(200, "POST", "/crm/v3/objects/communications/search", tt.body)
			if diff := cmp.Diff(tt.want, bodies(r)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if r.header.Get("X-HubSpot-RateLimit-Max") != "" {
				t.Error("search response carries rate-limit headers")
			}
		})
	}
}

func TestSearchLimitsAndPaging(t *testing.T) {
	h := start(t, Options{})
	var in []map[string]any
	for i := range 30 {
		in = append(in, comm(fmt.Sprint("m", i)))
	}
	h.must(201, "POST", "/crm/v3/objects/communications/batch/create", map[string]any{"inputs": in})
	many := func(n int) []map[string]any {
		var fs []map[string]any
		for range n {
			fs = append(fs, f("hs_communication_body", "HAS_PROPERTY"))
		}
		return fs
	}
	bad := []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"limit 201", map[string]any{"limit": 201}, "limit must be between 1 and 200"},
		{"after 10000", map[string]any{"after": "10000"}, "10000 total results"},
		{"6 groups", searchBody(many(1), many(1), many(1), many(1), many(1), many(1)), "Too many filter groups"},
		{"7 filters in a group", searchBody(many(7)), "Too many filters in filter group"},
		{"19 filters", searchBody(many(5), many(5), many(5), many(4)), "Too many filters: 19"},
		{"HAS_PROPERTY with value", searchBody([]map[string]any{{"propertyName": "hs_timestamp", "operator": "HAS_PROPERTY", "value": "x"}}), "does not take a value"},
		{"unknown operator", searchBody([]map[string]any{f("hs_timestamp", "LIKE", "x")}), "Invalid operator"},
		{"unknown property", searchBody([]map[string]any{f("nope", "EQ", "x")}), "does not exist"},
		{"101 IN values", searchBody([]map[string]any{{"propertyName": "hs_communication_body", "operator": "IN", "values": make([]string, 101)}}), "at most 100 values"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := h.must(400, "POST", "/crm/v3/objects/communications/search", tt.body)
			if !strings.Contains(r.str("message"), tt.msg) || r.str("category") != "VALIDATION_ERROR" {
				t.Errorf("body %s lacks %q", r.raw, tt.msg)
			}
		})
	}
	var got []string
	after := "0"
	for after != "" {
		r := h.must(200, "POST", "/crm/v3/objects/communications/search", map[string]any{"limit": 12, "after": after, "properties": []string{"hs_communication_body"}})
		if r.get("total") != float64(30) {
			t.Fatalf("total = %v", r.get("total"))
		}
		got = append(got, bodies(r)...)
		after = r.str("paging.next.after")
	}
	if len(got) != 30 || got[0] != "m0" || got[29] != "m29" {
		t.Errorf("paged %d results: %v", len(got), got)
	}
}

func TestSearchIndexLag(t *testing.T) {
	c := newClock()
	h := start(t, Options{Now: c.Now, SearchLag: time.Second})
	byKey := searchBody([]map[string]any{f("hs_communication_body", "EQ", "first")})
	id := h.must(201, "POST", "/crm/v3/objects/communications", comm("first")).str("id")
	if got := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", byKey)); len(got) != 0 {
		t.Errorf("new record visible to search at once: %v", got)
	}
	h.must(200, "GET", "/crm/v3/objects/communications/"+id, nil) // get sees it at once
	c.Add(time.Second)
	if got := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", byKey)); len(got) != 1 {
		t.Errorf("record not visible after the lag: %v", got)
	}
	h.must(200, "PATCH", "/crm/v3/objects/communications/"+id, map[string]any{"properties": map[string]any{"hs_communication_body": "second"}})
	c.Add(500 * time.Millisecond)
	if got := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", byKey)); len(got) != 1 || got[0] != "first" {
		t.Errorf("inside the lag search should see the old version, got %v", got)
	}
	c.Add(500 * time.Millisecond)
	if got := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", byKey)); len(got) != 0 {
		t.Errorf("old version still visible after the lag: %v", got)
	}
	h.must(204, "DELETE", "/crm/v3/objects/communications/"+id, nil)
	second := searchBody([]map[string]any{f("hs_communication_body", "EQ", "second")})
	if got := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", second)); len(got) != 1 {
		t.Errorf("archive applied to search before the lag: %v", got)
	}
	c.Add(time.Second)
	if got := bodies(h.must(200, "POST", "/crm/v3/objects/communications/search", second)); len(got) != 0 {
		t.Errorf("archived record still found: %v", got)
	}
}

// nonFinite are the values strconv.ParseFloat accepts that are not finite
// numbers: each must be answered as a value that is not a number ("abc").
var nonFinite = []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "inf", "Infinity", "+infinity", "-Infinity"}

// TestSearchNonFiniteNumberFilters holds number filters whose value is
// NaN or an infinity to the answer for "abc", which is pinned first: a
// filter value that is not a number matches nothing, and its negations
// match everything.
func TestSearchNonFiniteNumberFilters(t *testing.T) {
	h := start(t, Options{})
	h.must(201, "POST", "/crm/v3/properties/communications", map[string]any{"name": "n", "label": "n", "type": "number",
		"fieldType": "number", "groupName": "communicationinformation"})
	h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(comm("one", "n", "1"), comm("two", "n", "2")))
	search := func(filter map[string]any) []string {
		t.Helper()
		r := h.must(200, "POST", "/crm/v3/objects/communications/search", searchBody([]map[string]any{filter}))
		if got := r.str("total"); got != fmt.Sprint(len(bodies(r))) {
			t.Errorf("total %s for %d results", got, len(bodies(r)))
		}
		return bodies(r)
	}
	all, none := []string{"one", "two"}, []string{}
	tests := []struct {
		op   string
		make func(v string) []any // the filter's arguments
		want []string             // for "abc"
	}{
		{"EQ", func(v string) []any { return []any{v} }, none},
		{"NEQ", func(v string) []any { return []any{v} }, all},
		{"LT", func(v string) []any { return []any{v} }, none},
		{"LTE", func(v string) []any { return []any{v} }, none},
		{"GT", func(v string) []any { return []any{v} }, none},
		{"GTE", func(v string) []any { return []any{v} }, none},
		{"IN", func(v string) []any { return []any{v} }, none},
		{"IN", func(v string) []any { return []any{v, "abc"} }, none},
		{"NOT_IN", func(v string) []any { return []any{v} }, all},
		{"BETWEEN", func(v string) []any { return []any{"0", v} }, none},
		{"BETWEEN", func(v string) []any { return []any{v, "3"} }, none},
	}
	for _, prop := range []string{"n", "hs_object_id"} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s %s %v", prop, tt.op, tt.make("v")), func(t *testing.T) {
				if got := search(f(prop, tt.op, tt.make("abc")...)); !cmp.Equal(tt.want, got) {
					t.Fatalf("abc: %v, want %v", got, tt.want)
				}
				for _, v := range nonFinite {
					if got := search(f(prop, tt.op, tt.make(v)...)); !cmp.Equal(tt.want, got) {
						t.Errorf("%s: %v, want %v as for abc", v, got, tt.want)
					}
				}
			})
		}
	}
}

// TestNonFiniteNumberValuesRejected holds writes of NaN or an infinity to
// a number property to the answer for "abc": the same status and error
// body, naming the value.
func TestNonFiniteNumberValuesRejected(t *testing.T) {
	h := start(t, Options{})
	h.must(201, "POST", "/crm/v3/properties/communications", map[string]any{"name": "n", "label": "n", "type": "number",
		"fieldType": "number", "groupName": "communicationinformation"})
	id := h.must(201, "POST", "/crm/v3/objects/communications", comm("one", "n", "1")).str("id")
	writes := []struct {
		name         string
		method, path string
		body         func(v string) any
	}{
		{"create", "POST", "/crm/v3/objects/communications", func(v string) any { return comm("x", "n", v) }},
		{"update", "PATCH", "/crm/v3/objects/communications/" + id, func(v string) any {
			return map[string]any{"properties": map[string]any{"n": v}}
		}},
		{"batch create", "POST", "/crm/v3/objects/communications/batch/create", func(v string) any { return inputs(comm("x", "n", v)) }},
		{"batch update", "POST", "/crm/v3/objects/communications/batch/update", func(v string) any {
			return inputs(map[string]any{"id": id, "properties": map[string]any{"n": v}})
		}},
	}
	// comparable drops what differs between two answers to the same
	// request (ids, times) and names the value "V".
	comparable := func(r reply, v string) map[string]any {
		t.Helper()
		raw := strings.ReplaceAll(string(r.raw), v, "V")
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("%s: %v", r.raw, err)
		}
		for _, k := range []string{"correlationId", "startedAt", "completedAt"} {
			delete(m, k)
		}
		return m
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			ref := h.do(w.method, w.path, w.body("abc"))
			if ref.status/100 == 2 && ref.status != 207 {
				t.Fatalf("abc accepted: %d %s", ref.status, ref.raw)
			}
			want := comparable(ref, "abc")
			for _, v := range nonFinite {
				r := h.do(w.method, w.path, w.body(v))
				if r.status != ref.status {
					t.Errorf("%s: status %d, want %d as for abc: %s", v, r.status, ref.status, r.raw)
					continue
				}
				if d := cmp.Diff(want, comparable(r, v)); d != "" {
					t.Errorf("%s: body differs from abc's (-abc +%s):\n%s", v, v, d)
				}
			}
		})
	}
	if got := h.must(200, "GET", "/crm/v3/objects/communications/"+id+"?properties=n", nil).str("properties.n"); got != "1" {
		t.Errorf("n = %q after rejected writes, want 1", got)
	}
}

// TestInvalidNumberAnswer pins the shape of HubSpot's answer to a number
// property written with a non-number, as a real one has it
// (Atlas-Authority/marketing-automation#206): code INVALID_INTEGER, the
// message with its full stop, and the refused value as propertyValue.
func TestInvalidNumberAnswer(t *testing.T) {
	h := start(t, Options{})
	h.must(201, "POST", "/crm/v3/properties/communications", map[string]any{"name": "amount", "label": "amount", "type": "number",
		"fieldType": "number", "groupName": "communicationinformation"})
	r := h.do("POST", "/crm/v3/objects/communications", comm("x", "amount", "1.5x"))
	var body struct {
		Message  string `json:"message"`
		Category string `json:"category"`
		Errors   []struct {
			Message string              `json:"message"`
			Code    string              `json:"code"`
			Context map[string][]string `json:"context"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil || r.status != 400 {
		t.Fatalf("%d %s (%v)", r.status, r.raw, err)
	}
	prefix := "Property values were not valid: "
	var problems []map[string]any
	if !strings.HasPrefix(body.Message, prefix) || json.Unmarshal([]byte(strings.TrimPrefix(body.Message, prefix)), &problems) != nil {
		t.Fatalf("message %q: want the problems as JSON after %q", body.Message, prefix)
	}
	want := []map[string]any{{"isValid": false, "message": "1.5x was not a valid number.", "error": "INVALID_INTEGER",
		"name": "amount", "localizedErrorMessage": "1.5x was not a valid number.", "propertyValue": "1.5x"}}
	if d := cmp.Diff(want, problems); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if body.Category != "VALIDATION_ERROR" || len(body.Errors) != 1 || body.Errors[0].Code != "INVALID_INTEGER" ||
		body.Errors[0].Message != "1.5x was not a valid number." || !cmp.Equal(body.Errors[0].Context["propertyName"], []string{"amount"}) {
		t.Errorf("answer %s", r.raw)
	}
}
