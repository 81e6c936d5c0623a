package sandbox

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCreateShapes(t *testing.T) {
	c := newClock()
	h := start(t, Options{Now: c.Now})
	r := h.must(201, "POST", "/crm/v3/objects/communications", comm("hi", "hs_timestamp", "1714557600000"))
	id := r.str("id")
	want := map[string]any{
		"id": id,
		"properties": map[string]any{
			"hs_communication_channel_type": "WHATS_APP", "hs_communication_logged_from": "CRM",
			"hs_communication_body": "hi", "hs_timestamp": "2024-05-01T10:00:00Z",
			"hs_createdate": "2024-05-02T08:11:09.163Z", "hs_lastmodifieddate": "2024-05-02T08:11:09.163Z", "hs_object_id": id,
		},
		"createdAt": "2024-05-02T08:11:09.163Z", "updatedAt": "2024-05-02T08:11:09.163Z", "archived": false,
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("create body (-want +got):\n%s", diff)
	}
	if got := r.header.Get("Content-Type"); got != "application/json;charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if r.header.Get("X-Hubspot-Correlation-Id") == "" {
		t.Error("no x-hubspot-correlation-id header")
	}
	// Get with no properties: defaults only. Requested-but-unset: null.
	g := h.must(200, "GET", "/crm/v3/objects/communications/"+id+"?properties=hs_communication_body,hubspot_owner_id,nonexistent", nil)
	wantProps := map[string]any{"hs_communication_body": "hi", "hubspot_owner_id": nil,
		"hs_createdate": "2024-05-02T08:11:09.163Z", "hs_lastmodifieddate": "2024-05-02T08:11:09.163Z", "hs_object_id": id}
	if diff := cmp.Diff(wantProps, g.get("properties")); diff != "" {
		t.Errorf("get properties (-want +got):\n%s", diff)
	}
	g = h.must(200, "GET", "/crm/v3/objects/communication/"+id, nil)
	if diff := cmp.Diff(map[string]any{"hs_createdate": "2024-05-02T08:11:09.163Z", "hs_lastmodifieddate": "2024-05-02T08:11:09.163Z", "hs_object_id": id}, g.get("properties")); diff != "" {
		t.Errorf("default properties (-want +got):\n%s", diff)
	}
}

func TestBatchCreateErrors(t *testing.T) {
	h := start(t, Options{})
	contact := h.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "a@example.com"}}).str("id")
	many := make([]map[string]any, 101)
	for i := range many {
		many[i] = comm("x")
	}
	withAssoc := func(id string, typeID int) map[string]any {
		in := comm("x")
		in["associations"] = []any{map[string]any{"to": map[string]any{"id": id},
			"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": typeID}}}}
		return in
	}
	tests := []struct {
		name     string
		body     any
		status   int
		category string
		code     string // errors[0].code
		msgPart  string
	}{
		{"unknown property", inputs(comm("ok"), comm("x", "no_such_prop", "1")), 400, "VALIDATION_ERROR", "PROPERTY_DOESNT_EXIST", `Property \"no_such_prop\" does not exist`},
		{"invalid enum", inputs(comm("x", "hs_communication_channel_type", "FAX")), 400, "VALIDATION_ERROR", "INVALID_OPTION", "FAX was not one of the allowed options"},
		{"bad timestamp", inputs(comm("x", "hs_timestamp", "yesterday")), 400, "VALIDATION_ERROR", "INVALID_DATETIME", "yesterday"},
		{"101 inputs", map[string]any{"inputs": many}, 400, "VALIDATION_ERROR", "", "size must be between 1 and 100"},
		{"no inputs", inputs(), 400, "VALIDATION_ERROR", "", "size must be between 1 and 100"},
		{"missing association target", inputs(withAssoc("123", 81)), 400, "VALIDATION_ERROR", "INVALID_OBJECT_ID", "no contact with id 123"},
		{"wrong association type", inputs(withAssoc(contact, 82)), 400, "VALIDATION_ERROR", "INVALID_ASSOCIATION_TYPE", "invalid association type"},
		{"bad json", `{"inputs": [`, 400, "VALIDATION_ERROR", "", "Invalid input JSON"},
		{"unknown object type", inputs(comm("x")), 400, "VALIDATION_ERROR", "", "Unable to infer object type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := "/crm/v3/objects/communications/batch/create"
			if tt.name == "unknown object type" {
				p = "/crm/v3/objects/faxes/batch/create"
			}
			r := h.must(tt.status, "POST", p, tt.body)
			if got := r.str("category"); got != tt.category {
				t.Errorf("category = %q, want %q", got, tt.category)
			}
			if got := r.str("errors.0.code"); got != tt.code {
				t.Errorf("errors[0].code = %q, want %q (%s)", got, tt.code, r.raw)
			}
			if !strings.Contains(r.str("message"), strings.ReplaceAll(tt.msgPart, `\"`, `"`)) && !strings.Contains(string(r.raw), tt.msgPart) {
				t.Errorf("message %q lacks %q", r.str("message"), tt.msgPart)
			}
			if r.str("status") != "error" || r.str("correlationId") == "" {
				t.Errorf("error body lacks status/correlationId: %s", r.raw)
			}
		})
	}
	if n := len(h.srv.Objects("communications", true)); n != 0 {
		t.Errorf("rejected batches created %d communications", n)
	}
}

func TestBatchCreateTraceIDs(t *testing.T) {
	h := start(t, Options{})
	in := func(trace string, extra ...string) map[string]any {
		c := comm("m-"+trace, extra...)
		c["objectWriteTraceId"] = trace
		return c
	}
	r := h.must(207, "POST", "/crm/v3/objects/communications/batch/create",
		inputs(in("k1"), in("k2", "hs_communication_channel_type", "FAX"), in("k3"), in("k4", "bogus", "1")))
	if got := r.get("numErrors"); got != float64(2) {
		t.Errorf("numErrors = %v, want 2", got)
	}
	var traces []string
	for _, e := range r.get("errors").([]any) {
		traces = append(traces, fmt.Sprint(jpath(e, "context.objectWriteTraceId.0")))
	}
	if diff := cmp.Diff([]string{"k2", "k4"}, traces); diff != "" {
		t.Errorf("error trace ids (-want +got):\n%s", diff)
	}
	var created []string
	for _, res := range r.get("results").([]any) {
		created = append(created, fmt.Sprint(jpath(res, "objectWriteTraceId")))
	}
	if diff := cmp.Diff([]string{"k1", "k3"}, created); diff != "" {
		t.Errorf("created trace ids (-want +got):\n%s", diff)
	}
	if n := len(h.srv.Objects("communications", false)); n != 2 {
		t.Errorf("stored %d, want 2", n)
	}
	// All good with trace ids: 201.
	h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(in("k5"), in("k6")))
	// Duplicate trace ids: 400.
	h.must(400, "POST", "/crm/v3/objects/communications/batch/create", inputs(in("k7"), in("k7")))
}

func TestReadUpdateArchive(t *testing.T) {
	c := newClock()
	h := start(t, Options{Now: c.Now})
	r := h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(comm("one"), comm("two")))
	a, b := r.str("results.0.id"), r.str("results.1.id")

	read := h.must(207, "POST", "/crm/v3/objects/communications/batch/read",
		map[string]any{"inputs": []any{map[string]any{"id": a}, map[string]any{"id": "999"}}, "properties": []string{"hs_communication_body"}, "propertiesWithHistory": []string{}})
	wantErr := []any{map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND",
		"message": "Could not get some COMMUNICATION objects, they may be deleted or not exist. Check that ids are valid.",
		"context": map[string]any{"ids": []any{"999"}}}}
	if diff := cmp.Diff(wantErr, read.get("errors")); diff != "" {
		t.Errorf("207 errors (-want +got):\n%s", diff)
	}
	if read.str("results.0.properties.hs_communication_body") != "one" || read.str("status") != "COMPLETE" {
		t.Errorf("batch read result: %s", read.raw)
	}

	c.Add(1500e6)
	up := h.must(200, "POST", "/crm/v3/objects/communications/batch/update", inputs(
		map[string]any{"id": a, "properties": map[string]any{"hs_communication_body": "", "hs_object_id": "1", "not_a_prop": "x", "hubspot_owner_id": 75000001}},
	))
	props := up.get("results.0.properties").(map[string]any)
	if _, has := props["hs_communication_body"]; has {
		t.Errorf("empty string did not clear the body: %v", props)
	}
	if props["hs_object_id"] != a || props["hubspot_owner_id"] != "75000001" {
		t.Errorf("read-only/owner handling wrong: %v", props)
	}
	if up.str("results.0.updatedAt") != "2024-05-02T08:11:10.663Z" || up.str("results.0.createdAt") != "2024-05-02T08:11:09.163Z" {
		t.Errorf("timestamps: %s", up.raw)
	}
	h.must(400, "POST", "/crm/v3/objects/communications/batch/update", inputs(
		map[string]any{"id": a, "properties": map[string]any{"hs_communication_channel_type": "PIGEON"}}))
	h.must(400, "POST", "/crm/v3/objects/communications/batch/update", inputs(
		map[string]any{"id": a, "properties": map[string]any{}}, map[string]any{"id": a, "properties": map[string]any{}}))
	miss := h.must(207, "POST", "/crm/v3/objects/communications/batch/update", inputs(
		map[string]any{"id": b, "properties": map[string]any{"hs_communication_body": "zwei"}},
		map[string]any{"id": "12", "properties": map[string]any{"hs_communication_body": "x"}}))
	if miss.str("errors.0.context.ids.0") != "12" || miss.str("results.0.properties.hs_communication_body") != "zwei" {
		t.Errorf("update 207: %s", miss.raw)
	}
	h.must(200, "PATCH", "/crm/v3/objects/communications/"+b, map[string]any{"properties": map[string]any{"hs_communication_body": "drei"}})
	h.must(404, "PATCH", "/crm/v3/objects/communications/77", map[string]any{"properties": map[string]any{}})

	h.must(204, "POST", "/crm/v3/objects/communications/batch/archive", inputs(map[string]any{"id": a}, map[string]any{"id": "404"}))
	nf := h.must(404, "GET", "/crm/v3/objects/communications/"+a, nil)
	if nf.str("category") != "OBJECT_NOT_FOUND" {
		t.Errorf("404 body: %s", nf.raw)
	}
	arch := h.must(200, "GET", "/crm/v3/objects/communications/"+a+"?archived=true", nil)
	if arch.get("archived") != true || arch.str("archivedAt") == "" {
		t.Errorf("archived read: %s", arch.raw)
	}
	h.must(200, "POST", "/crm/v3/objects/communications/batch/read?archived=true", map[string]any{"inputs": []any{map[string]any{"id": a}}})
	h.must(204, "DELETE", "/crm/v3/objects/communications/"+b, nil)
	st := h.srv.Stats()
	if st.Objects["communications"] != 0 || st.Objects["communications_archived"] != 2 {
		t.Errorf("stats objects = %v", st.Objects)
	}
}

func TestListPaging(t *testing.T) {
	h := start(t, Options{})
	var batch []map[string]any
	for i := range 25 {
		batch = append(batch, comm(fmt.Sprint("m", i)))
	}
	h.must(201, "POST", "/crm/v3/objects/communications/batch/create", map[string]any{"inputs": batch})
	h.must(204, "POST", "/crm/v3/objects/communications/batch/archive", inputs(map[string]any{"id": h.srv.Objects("communications", false)[3].ID}))
	var seen []string
	p := "/crm/v3/objects/communications?limit=10&properties=hs_communication_body"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := h.must(200, "GET", p, nil)
		for _, res := range r.get("results").([]any) {
			seen = append(seen, fmt.Sprint(jpath(res, "properties.hs_communication_body")))
		}
		next := r.str("paging.next.after")
		if next == "" {
			if r.get("paging") != nil {
				t.Errorf("last page carries paging: %s", r.raw)
			}
			break
		}
		if link := r.str("paging.next.link"); !strings.Contains(link, "after=") {
			t.Errorf("paging.next.link = %q", link)
		}
		p = "/crm/v3/objects/communications?limit=10&properties=hs_communication_body&after=" + next
	}
	if len(seen) != 24 || seen[0] != "m0" || seen[3] != "m4" {
		t.Errorf("listed %d: %v", len(seen), seen)
	}
	arch := h.must(200, "GET", "/crm/v3/objects/communications?archived=true", nil)
	if n := len(arch.get("results").([]any)); n != 1 {
		t.Errorf("archived list has %d", n)
	}
	h.must(400, "GET", "/crm/v3/objects/communications?limit=101", nil)
	h.must(400, "GET", "/crm/v3/objects/communications?after=notacursor", nil)
}

func TestUniqueAndUpsert(t *testing.T) {
	h := start(t, Options{})
	prop := map[string]any{"name": "commlog_key", "label": "commlog key", "type": "string", "fieldType": "text", "groupName": "communicationinformation", "hasUniqueValue": true}
	r := h.must(201, "POST", "/crm/v3/properties/communications", prop)
	if r.get("hasUniqueValue") != true || r.str("name") != "commlog_key" {
		t.Errorf("property create: %s", r.raw)
	}
	dup := h.must(409, "POST", "/crm/v3/properties/communications", prop)
	if dup.str("category") != "OBJECT_ALREADY_EXISTS" {
		t.Errorf("409 body: %s", dup.raw)
	}
	h.must(400, "POST", "/crm/v3/properties/communications", map[string]any{"name": "x"})
	h.must(200, "GET", "/crm/v3/properties/communications/commlog_key", nil)
	h.must(404, "GET", "/crm/v3/properties/communications/nope", nil)

	first := h.must(201, "POST", "/crm/v3/objects/communications", comm("a", "commlog_key", "K1")).str("id")
	c := h.must(409, "POST", "/crm/v3/objects/communications/batch/create", inputs(comm("b", "commlog_key", "K1")))
	if c.str("category") != "CONFLICT" || !strings.Contains(c.str("message"), first) {
		t.Errorf("conflict body: %s", c.raw)
	}
	h.must(409, "POST", "/crm/v3/objects/communications/batch/create", inputs(comm("b", "commlog_key", "K2"), comm("c", "commlog_key", "K2")))

	up := h.must(200, "POST", "/crm/v3/objects/communications/batch/upsert", inputs(
		map[string]any{"id": "K1", "idProperty": "commlog_key", "properties": map[string]any{"hs_communication_body": "a2"}},
		map[string]any{"id": "K3", "idProperty": "commlog_key", "properties": comm("new")["properties"]},
	))
	got := map[string]any{}
	for _, res := range up.get("results").([]any) {
		got[fmt.Sprint(jpath(res, "properties.commlog_key"))] = jpath(res, "new")
	}
	if diff := cmp.Diff(map[string]any{"K1": false, "K3": true}, got); diff != "" {
		t.Errorf("upsert new flags (-want +got):\n%s", diff)
	}
	bad := h.must(400, "POST", "/crm/v3/objects/communications/batch/upsert", inputs(
		map[string]any{"id": "x", "idProperty": "hs_communication_body", "properties": map[string]any{}}))
	if !strings.Contains(bad.str("message"), "non-unique 0-18 property hs_communication_body") {
		t.Errorf("non-unique upsert: %s", bad.raw)
	}
	byKey := h.must(200, "GET", "/crm/v3/objects/communications/K1?idProperty=commlog_key&properties=hs_communication_body", nil)
	if byKey.str("properties.hs_communication_body") != "a2" {
		t.Errorf("get by idProperty: %s", byKey.raw)
	}
	// Archiving frees the value.
	h.must(204, "DELETE", "/crm/v3/objects/communications/"+first, nil)
	h.must(201, "POST", "/crm/v3/objects/communications", comm("again", "commlog_key", "K1"))
}

func TestAssociationsAndPinning(t *testing.T) {
	h := start(t, Options{})
	contact := h.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "p@example.com", "phone": "+49 151 23456789"}}).str("id")
	company := h.must(201, "POST", "/crm/v3/objects/companies", map[string]any{"properties": map[string]any{"name": "Acme"}}).str("id")
	in := comm("hello")
	in["associations"] = []any{map[string]any{"to": map[string]any{"id": contact},
		"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}}}}
	c1 := h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(in)).str("results.0.id")
	c2 := h.must(201, "POST", "/crm/v3/objects/communications", comm("other")).str("id")

	g := h.must(200, "GET", "/crm/v3/objects/communications/"+c1+"?associations=contacts,companies", nil)
	if diff := cmp.Diff(map[string]any{"contacts": map[string]any{"results": []any{map[string]any{"id": contact, "type": "communication_to_contact"}}}}, g.get("associations")); diff != "" {
		t.Errorf("associations (-want +got):\n%s", diff)
	}
	// Pinning needs an existing association.
	h.must(400, "PATCH", "/crm/v3/objects/contacts/"+contact, map[string]any{"properties": map[string]any{"hs_pinned_engagement_id": c2}})
	h.must(200, "PATCH", "/crm/v3/objects/contacts/"+contact, map[string]any{"properties": map[string]any{"hs_pinned_engagement_id": c1}})

	// v3 single association by name, then v4 default and labelled.
	h.must(200, "PUT", "/crm/v3/objects/communications/"+c2+"/associations/contact/"+contact+"/communication_to_contact", nil)
	h.must(200, "PATCH", "/crm/v3/objects/contacts/"+contact, map[string]any{"properties": map[string]any{"hs_pinned_engagement_id": c2}})
	h.must(404, "PUT", "/crm/v3/objects/communications/"+c2+"/associations/contact/424242/81", nil)
	d := h.must(200, "POST", "/crm/v4/associations/communications/companies/batch/associate/default",
		inputs(map[string]any{"from": map[string]any{"id": c1}, "to": map[string]any{"id": company}}))
	if d.str("results.0.associationSpec.associationTypeId") != "87" {
		t.Errorf("default association: %s", d.raw)
	}
	cr := h.must(207, "POST", "/crm/v4/associations/0-18/0-2/batch/create", inputs(
		map[string]any{"from": map[string]any{"id": c2}, "to": map[string]any{"id": company}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 87}}},
		map[string]any{"from": map[string]any{"id": c2}, "to": map[string]any{"id": "5"}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 87}}},
	))
	if cr.str("results.0.toObjectTypeId") != "0-2" || cr.get("numErrors") != float64(1) {
		t.Errorf("v4 create: %s", cr.raw)
	}
	rd := h.must(200, "POST", "/crm/v4/associations/contacts/communications/batch/read", inputs(map[string]any{"id": contact}))
	if n := len(rd.get("results.0.to").([]any)); n != 2 {
		t.Errorf("contact has %d communications: %s", n, rd.raw)
	}
	if got := h.srv.Objects("contacts", false)[0].Properties["hs_calculated_phone_number"]; got != "+4915123456789" {
		t.Errorf("hs_calculated_phone_number = %q", got)
	}
	h.must(204, "POST", "/crm/v4/associations/communications/companies/batch/archive",
		inputs(map[string]any{"from": map[string]any{"id": c1}, "to": []any{map[string]any{"id": company}}}))
	if a := h.srv.Objects("communications", false)[0].Associations; len(a["companies"]) != 0 || len(a["contacts"]) != 1 {
		t.Errorf("after archive: %v", a)
	}
	v3 := h.must(200, "POST", "/crm/v3/associations/communications/contacts/batch/read", inputs(map[string]any{"id": c1}))
	if v3.str("results.0.to.0.type") != "communication_to_contact" {
		t.Errorf("v3 batch read: %s", v3.raw)
	}
}

func TestOwnersAndProperties(t *testing.T) {
	h := start(t, Options{})
	o := h.must(200, "GET", "/crm/v3/owners?limit=2", nil)
	if len(o.get("results").([]any)) != 2 || o.str("paging.next.after") != "2" {
		t.Errorf("owners: %s", o.raw)
	}
	h.must(200, "GET", "/crm/v3/owners/75000001", nil)
	h.must(404, "GET", "/crm/v3/owners/1", nil)
	p := h.must(200, "GET", "/crm/v3/properties/communications", nil)
	found := false
	for _, d := range p.get("results").([]any) {
		if jpath(d, "name") == "hs_communication_channel_type" {
			found = true
			if n := len(jpath(d, "options").([]any)); n != 3 {
				t.Errorf("channel options: %d", n)
			}
		}
	}
	if !found {
		t.Error("hs_communication_channel_type not listed")
	}
	h.must(404, "GET", "/crm/v3/nothing", nil)
	h.must(http.StatusOK, "GET", "/crm/v3/objects/0-1", nil)
}

// TestPropertyGroups: a property sits in an existing group; integrations
// create their own group (HubSpot's advice), which lists after the
// built-in one.
func TestPropertyGroups(t *testing.T) {
	h := start(t, Options{})
	prop := map[string]any{"name": "commlog_key", "label": "commlog key", "type": "string", "fieldType": "text", "groupName": "commlog"}
	if r := h.must(400, "POST", "/crm/v3/properties/communications", prop); !strings.Contains(r.str("message"), "commlog") {
		t.Errorf("unknown group: %s", r.raw)
	}
	h.must(404, "GET", "/crm/v3/properties/communications/groups/commlog", nil)
	h.must(400, "POST", "/crm/v3/properties/communications/groups", map[string]any{"name": "commlog"})
	h.must(400, "POST", "/crm/v3/properties/communications/groups", map[string]any{"name": "Bad Name", "label": "x"})
	g := h.must(201, "POST", "/crm/v3/properties/communications/groups", map[string]any{"name": "commlog", "label": "commlog", "displayOrder": -1})
	if g.str("name") != "commlog" || g.get("archived") != false {
		t.Errorf("group create: %s", g.raw)
	}
	if r := h.must(409, "POST", "/crm/v3/properties/communications/groups", map[string]any{"name": "commlog", "label": "again"}); r.str("category") != "OBJECT_ALREADY_EXISTS" {
		t.Errorf("duplicate group: %s", r.raw)
	}
	h.must(200, "GET", "/crm/v3/properties/communications/groups/commlog", nil)
	h.must(404, "GET", "/crm/v3/properties/contacts/groups/commlog", nil) // groups belong to one type
	var names []string
	for _, d := range h.must(200, "GET", "/crm/v3/properties/communications/groups", nil).get("results").([]any) {
		names = append(names, jpath(d, "name").(string))
	}
	if d := cmp.Diff([]string{"communicationinformation", "commlog"}, names); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
	if r := h.must(201, "POST", "/crm/v3/properties/communications", prop); r.str("groupName") != "commlog" {
		t.Errorf("property in the new group: %s", r.raw)
	}
}
