package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAnswersGolden pins, byte for byte, the answers of the paths whose
// handlers share helpers (batchAnswer, notFoundErrs, assocPair, v3To,
// prepareUpdate, missingFields, alreadyExists, inOrder): batch 207s for
// missing ids and failed inputs, association answers for records that do
// not exist, property and group refusals, association listings.
func TestAnswersGolden(t *testing.T) {
	h := start(t, Options{Now: newClock().Now})
	var out bytes.Buffer
	corr := regexp.MustCompile(`"correlationId":"[^"]*"`)
	call := func(method, path string, body any) reply {
		t.Helper()
		r := h.do(method, path, body)
		fmt.Fprintf(&out, "%s %s → %d\n%s\n\n", method, path, r.status, corr.ReplaceAll(r.raw, []byte(`"correlationId":"…"`)))
		return r
	}
	objs := "/crm/v3/objects/communications"
	props := "/crm/v3/properties/communications"
	call("POST", props, map[string]any{"name": "commlog_key", "label": "Key", "type": "string", "fieldType": "text",
		"groupName": "communicationinformation", "hasUniqueValue": true})
	call("POST", props, map[string]any{"name": "commlog_key", "label": "Key", "type": "string", "fieldType": "text", "groupName": "communicationinformation"})
	call("POST", props, map[string]any{"name": "x", "type": "string"})
	call("POST", props+"/groups", map[string]any{"name": "commlog", "label": "commlog"})
	call("POST", props+"/groups", map[string]any{"name": "commlog", "label": "again"})
	call("POST", props+"/groups", map[string]any{"displayOrder": 1})
	call("GET", props+"/groups", nil)
	call("GET", props, nil)

	contact := call("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "a@example.com"}}).str("id")
	c1 := call("POST", objs, comm("one", "commlog_key", "k1")).str("id")
	c2 := call("POST", objs, comm("two", "commlog_key", "k2")).str("id")
	call("POST", objs+"/batch/create", map[string]any{"inputs": []any{
		withTrace(comm("three", "commlog_key", "k3"), "t3"), withTrace(comm("bad", "hs_communication_channel_type", "FAX"), "t4")}})
	call("POST", objs+"/batch/create", inputs(comm("four", "commlog_key", "k4")))
	call("POST", objs+"/batch/read", map[string]any{"inputs": []any{map[string]any{"id": c1}, map[string]any{"id": "42"}, map[string]any{"id": "43"}}})
	call("POST", objs+"/batch/read", map[string]any{"inputs": []any{map[string]any{"id": c1}}})
	call("POST", objs+"/batch/update", inputs(map[string]any{"id": c1, "properties": map[string]any{"hs_communication_body": "uno"}},
		map[string]any{"id": "42", "properties": map[string]any{}}))
	call("POST", objs+"/batch/update", inputs(map[string]any{"id": c1, "properties": map[string]any{"commlog_key": "k2"}}))
	call("POST", objs+"/batch/update", inputs(map[string]any{"id": c1, "properties": map[string]any{"hs_communication_channel_type": "FAX"}}))
	call("PATCH", objs+"/"+c2, map[string]any{"properties": map[string]any{"commlog_key": "k1"}})
	call("PATCH", objs+"/"+c2, map[string]any{"properties": map[string]any{"hs_timestamp": "soon"}})
	call("PATCH", "/crm/v3/objects/contacts/"+contact, map[string]any{"properties": map[string]any{"hs_pinned_engagement_id": c1}})
	call("PATCH", objs+"/"+c2, map[string]any{"properties": map[string]any{"hs_communication_body": "zwei"}})

	call("PUT", "/crm/v4/objects/communications/"+c1+"/associations/contacts/42", []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}})
	call("PUT", "/crm/v4/objects/communications/"+c1+"/associations/default/contacts/42", nil)
	call("PUT", "/crm/v4/objects/communications/"+c1+"/associations/default/contacts/"+contact, nil)
	call("POST", "/crm/v4/associations/communications/contacts/batch/create", inputs(
		map[string]any{"from": map[string]any{"id": c2}, "to": map[string]any{"id": contact}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}}},
		map[string]any{"from": map[string]any{"id": "42"}, "to": map[string]any{"id": contact}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}}}))
	call("POST", "/crm/v4/associations/communications/contacts/batch/associate/default", inputs(
		map[string]any{"from": map[string]any{"id": c1}, "to": map[string]any{"id": "42"}}))
	call("POST", "/crm/v4/associations/contacts/communications/batch/read", inputs(map[string]any{"id": contact}, map[string]any{"id": "42"}))
	call("POST", "/crm/v3/associations/communications/contacts/batch/create", inputs(
		map[string]any{"from": map[string]any{"id": c1}, "to": map[string]any{"id": contact}, "type": "communication_to_contact"},
		map[string]any{"from": map[string]any{"id": c1}, "to": map[string]any{"id": "42"}, "type": "communication_to_contact"}))
	call("POST", "/crm/v3/associations/communications/contacts/batch/read", inputs(map[string]any{"id": c1}, map[string]any{"id": "42"}))
	call("POST", "/crm/v3/associations/communications/contacts/batch/read", inputs(map[string]any{"id": c1}))
	call("POST", "/crm/v3/associations/communications/contacts/batch/archive", inputs(
		map[string]any{"from": map[string]any{"id": c2}, "to": map[string]any{"id": "42"}, "type": "communication_to_contact"}))
	call("GET", "/crm/v3/objects/contacts/"+contact+"/associations/communications", nil)
	call("GET", "/crm/v3/objects/communications/"+c2+"/associations/contacts", nil)
	call("GET", objs+"/"+c1+"?associations=contacts,companies", nil)

	golden := filepath.Join("testdata", "answers.golden.txt")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestAnswersGolden -update)", err)
	}
	if d := cmp.Diff(string(want), out.String()); d != "" {
		t.Errorf("answers differ from %s (-want +got; refresh with -update):\n%s", golden, d)
	}
}

func withTrace(in map[string]any, trace string) map[string]any {
	in["objectWriteTraceId"] = trace
	return in
}
