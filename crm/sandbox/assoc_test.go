package sandbox

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func toContact(id string) []any {
	return []any{map[string]any{"to": map[string]any{"id": id},
		"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}}}}
}

// TestV4BatchReadShape checks v4 batch/read against the spec's
// BatchResponsePublicAssociationMultiWithLabel(WithErrors): from, to with
// toObjectId and associationTypes {category, typeId, label}; a record with
// no associations, an archived one and a missing one each get a
// NO_ASSOCIATIONS_FOUND entry in errors[] of a 207.
func TestV4BatchReadShape(t *testing.T) {
	h := start(t, Options{})
	contact := h.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "r@example.com"}}).str("id")
	c1in := comm("one")
	c1in["associations"] = toContact(contact)
	c1 := h.must(201, "POST", "/crm/v3/objects/communications", c1in).str("id")
	c2 := h.must(201, "POST", "/crm/v3/objects/communications", comm("none")).str("id")
	c3in := comm("archived")
	c3in["associations"] = toContact(contact)
	c3 := h.must(201, "POST", "/crm/v3/objects/communications", c3in).str("id")
	h.must(204, "DELETE", "/crm/v3/objects/communications/"+c3, nil)

	cid, _ := strconv.ParseFloat(contact, 64)
	rd := h.must(207, "POST", "/crm/v4/associations/communications/contacts/batch/read",
		inputs(map[string]any{"id": c1}, map[string]any{"id": c2}, map[string]any{"id": c3}, map[string]any{"id": "424242"}))
	wantResults := []any{map[string]any{"from": map[string]any{"id": c1}, "to": []any{map[string]any{"toObjectId": cid,
		"associationTypes": []any{map[string]any{"category": "HUBSPOT_DEFINED", "typeId": float64(81), "label": nil}}}}}}
	if diff := cmp.Diff(wantResults, rd.get("results")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	var missing []string
	for _, e := range rd.get("errors").([]any) {
		if jpath(e, "category") != "OBJECT_NOT_FOUND" || jpath(e, "subCategory") != "crm.associations.NO_ASSOCIATIONS_FOUND" || jpath(e, "status") != "error" {
			t.Errorf("error entry %v", e)
		}
		missing = append(missing, jpath(e, "context.fromObjectId.0").(string))
	}
	if diff := cmp.Diff([]string{c2, c3, "424242"}, missing); diff != "" {
		t.Errorf("records reported without associations (-want +got):\n%s", diff)
	}
	if rd.get("numErrors") != float64(3) || rd.str("status") != "COMPLETE" || rd.str("startedAt") == "" || rd.str("completedAt") == "" {
		t.Errorf("envelope: %s", rd.raw)
	}
	if all := h.must(200, "POST", "/crm/v4/associations/contacts/communications/batch/read", inputs(map[string]any{"id": contact})); all.get("errors") != nil {
		t.Errorf("a record with associations only: %s", all.raw)
	}

	// Limits: 1,000 inputs; after must be a cursor this sandbox gave out.
	var many []map[string]any
	for i := 0; i < 1001; i++ {
		many = append(many, map[string]any{"id": strconv.Itoa(i + 1)})
	}
	h.must(http.StatusBadRequest, "POST", "/crm/v4/associations/communications/contacts/batch/read", inputs(many...))
	h.must(207, "POST", "/crm/v4/associations/communications/contacts/batch/read", inputs(many[:1000]...))
	h.must(http.StatusBadRequest, "POST", "/crm/v4/associations/communications/contacts/batch/read", inputs(map[string]any{"id": c1, "after": "x"}))
}

// TestV4BatchReadPaging: a contact with 501 communications comes back as
// 500, then, asked for again with paging.next.after, the last one.
func TestV4BatchReadPaging(t *testing.T) {
	h := start(t, Options{})
	contact := h.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "p@example.com"}}).str("id")
	for made := 0; made < assocReadPage+1; {
		var batch []map[string]any
		for ; len(batch) < 100 && made < assocReadPage+1; made++ {
			in := comm("m" + strconv.Itoa(made))
			in["associations"] = toContact(contact)
			batch = append(batch, in)
		}
		h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(batch...))
	}
	seen := map[float64]bool{}
	first := h.must(200, "POST", "/crm/v4/associations/contacts/communications/batch/read", inputs(map[string]any{"id": contact}))
	for _, to := range first.get("results.0.to").([]any) {
		seen[jpath(to, "toObjectId").(float64)] = true
	}
	after := first.str("results.0.paging.next.after")
	if len(seen) != assocReadPage || after == "" {
		t.Fatalf("first page: %d records, after %q", len(seen), after)
	}
	second := h.must(200, "POST", "/crm/v4/associations/contacts/communications/batch/read", inputs(map[string]any{"id": contact, "after": after}))
	for _, to := range second.get("results.0.to").([]any) {
		seen[jpath(to, "toObjectId").(float64)] = true
	}
	if len(seen) != assocReadPage+1 || second.get("results.0.paging") != nil {
		t.Errorf("after both pages: %d distinct records; second page %s", len(seen), second.raw)
	}
}

// TestV4LabelsArchive: batch/labels/archive removes just the types named,
// in both directions; missing records are skipped; a type that does not
// link the two object types, or none at all, is refused and changes nothing.
func TestV4LabelsArchive(t *testing.T) {
	h := start(t, Options{})
	var contacts []string
	for _, e := range []string{"a@example.com", "b@example.com"} {
		contacts = append(contacts, h.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": e}}).str("id"))
	}
	in := comm("two contacts")
	in["associations"] = append(toContact(contacts[0]), toContact(contacts[1])...)
	c := h.must(201, "POST", "/crm/v3/objects/communications", in).str("id")
	pair := func(from, to string, typeID int) map[string]any {
		return map[string]any{"from": map[string]any{"id": from}, "to": map[string]any{"id": to},
			"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": typeID}}}
	}
	contactsOf := func() []string {
		var out []string
		for _, r := range h.srv.Objects("communications", false) {
			if r.ID == c {
				out = r.Associations["contacts"]
			}
		}
		return out
	}
	const path = "/crm/v4/associations/communications/contacts/batch/labels/archive"

	h.must(http.StatusBadRequest, "POST", path, inputs(pair(c, contacts[0], 87)))
	h.must(http.StatusBadRequest, "POST", path, inputs(map[string]any{"from": map[string]any{"id": c}, "to": map[string]any{"id": contacts[0]}, "types": []any{}}))
	if diff := cmp.Diff(contacts, contactsOf()); diff != "" {
		t.Fatalf("a refused request changed associations (-want +got):\n%s", diff)
	}

	h.must(http.StatusNoContent, "POST", path, inputs(pair(c, contacts[0], 81), pair("424242", contacts[1], 81), pair(c, "424243", 81)))
	if diff := cmp.Diff([]string{contacts[1]}, contactsOf()); diff != "" {
		t.Errorf("after removing one (-want +got):\n%s", diff)
	}
	back := h.must(207, "POST", "/crm/v4/associations/contacts/communications/batch/read", inputs(map[string]any{"id": contacts[0]}, map[string]any{"id": contacts[1]}))
	if back.str("results.0.from.id") != contacts[1] || back.str("errors.0.context.fromObjectId.0") != contacts[0] {
		t.Errorf("reverse direction after removal: %s", back.raw)
	}
	// Removing again is harmless.
	h.must(http.StatusNoContent, "POST", path, inputs(pair(c, contacts[0], 81)))
}
