package sandbox

import (
	"strconv"
	"strings"
)

// objectType describes one CRM object type the sandbox serves.
type objectType struct {
	name     string // plural path name: "communications"
	singular string // "communication", used in association type names and messages
	typeID   string // "0-18"
	// defaults are the properties returned when a request names none.
	defaults []string
	// searchable are the properties the free-text search "query" looks in.
	searchable []string
}

var objectTypes = []*objectType{
	{name: "contacts", singular: "contact", typeID: "0-1",
		defaults:   []string{"createdate", "email", "firstname", "lastname", "lastmodifieddate"},
		searchable: []string{"firstname", "lastname", "email", "phone", "mobilephone", "company", "hs_calculated_phone_number", "hs_whatsapp_phone_number"}},
	{name: "companies", singular: "company", typeID: "0-2",
		defaults: []string{"createdate", "domain", "name"}, searchable: []string{"name", "domain", "phone", "website"}},
	{name: "deals", singular: "deal", typeID: "0-3",
		defaults: []string{"amount", "closedate", "createdate", "dealname", "dealstage", "pipeline"}, searchable: []string{"dealname"}},
	{name: "tickets", singular: "ticket", typeID: "0-5",
		defaults: []string{"content", "createdate", "hs_pipeline", "hs_pipeline_stage", "subject"}, searchable: []string{"subject", "content"}},
	{name: "communications", singular: "communication", typeID: "0-18",
		searchable: []string{"hs_communication_body"}},
}

// lookupType resolves a path segment: plural or singular name, or type id.
func lookupType(seg string) *objectType {
	seg = strings.ToLower(seg)
	for _, t := range objectTypes {
		if seg == t.name || seg == t.singular || seg == t.typeID {
			return t
		}
	}
	return nil
}

// assocType is one HUBSPOT_DEFINED association type.
type assocType struct {
	id       int
	from, to string // object type names
	name     string // "communication_to_contact"
}

// assocTypes are HubSpot's default (unlabelled) association type ids
// between the objects the sandbox serves (HubSpot's "association type id
// values" table; communications from hubspot-api.md §6).
var assocTypes = func() []assocType {
	pairs := []struct {
		a, b   string
		ab, ba int
	}{
		{"communications", "contacts", 81, 82},
		{"communications", "tickets", 83, 84},
		{"communications", "deals", 85, 86},
		{"communications", "companies", 87, 88},
		{"contacts", "companies", 279, 280},
		{"deals", "contacts", 3, 4},
		{"deals", "companies", 341, 342},
		{"tickets", "contacts", 16, 15},
		{"tickets", "companies", 339, 340},
		{"deals", "tickets", 27, 28},
	}
	var out []assocType
	for _, p := range pairs {
		out = append(out,
			assocType{id: p.ab, from: p.a, to: p.b, name: lookupType(p.a).singular + "_to_" + lookupType(p.b).singular},
			assocType{id: p.ba, from: p.b, to: p.a, name: lookupType(p.b).singular + "_to_" + lookupType(p.a).singular})
	}
	return out
}()

func assocTypeByID(id int) (assocType, bool) {
	for _, a := range assocTypes {
		if a.id == id {
			return a, true
		}
	}
	return assocType{}, false
}

// assocTypeByRef resolves a numeric id or a snake-case name such as
// "communication_to_contact" (the v3 single-association path accepts both).
func assocTypeByRef(ref string) (assocType, bool) {
	if n, err := strconv.Atoi(ref); err == nil {
		return assocTypeByID(n)
	}
	for _, a := range assocTypes {
		if strings.EqualFold(a.name, ref) {
			return a, true
		}
	}
	return assocType{}, false
}

// defaultAssoc is the default association type from one object type to another.
func defaultAssoc(from, to string) (assocType, bool) {
	for _, a := range assocTypes {
		if a.from == from && a.to == to {
			return a, true
		}
	}
	return assocType{}, false
}

func reverseAssoc(a assocType) assocType {
	r, _ := defaultAssoc(a.to, a.from)
	return r
}

// builtinProperties are the HubSpot-defined property definitions the
// sandbox knows per object type. Calculated and read-only ones are marked so
// that writes to them are ignored, as HubSpot ignores them on update.
func builtinProperties(typ string) []propertyDef {
	str := func(name, label string) propertyDef {
		return propertyDef{Name: name, Label: label, Type: "string", FieldType: "text"}
	}
	ro := func(p propertyDef) propertyDef {
		p.ModificationMetadata.ReadOnlyValue = true
		p.ModificationMetadata.ReadOnlyDefinition = true
		p.Calculated = true
		return p
	}
	dt := func(name, label string) propertyDef {
		return propertyDef{Name: name, Label: label, Type: "datetime", FieldType: "date"}
	}
	num := func(name, label string) propertyDef {
		return propertyDef{Name: name, Label: label, Type: "number", FieldType: "number"}
	}
	common := []propertyDef{
		ro(num("hs_object_id", "Record ID")),
		ro(dt("hs_createdate", "Create Date")),
		ro(dt("hs_lastmodifieddate", "Last Modified Date")),
		{Name: "hubspot_owner_id", Label: "Owner", Type: "enumeration", FieldType: "select", ExternalOptions: true},
	}
	var own []propertyDef
	switch typ {
	case "communications":
		own = []propertyDef{
			{Name: "hs_communication_channel_type", Label: "Channel type", Type: "enumeration", FieldType: "select",
				Options: []propertyOption{
					{Label: "WhatsApp", Value: "WHATS_APP", DisplayOrder: 0},
					{Label: "LinkedIn", Value: "LINKEDIN_MESSAGE", DisplayOrder: 1},
					{Label: "SMS", Value: "SMS", DisplayOrder: 2},
				}},
			{Name: "hs_communication_logged_from", Label: "Logged from", Type: "enumeration", FieldType: "select",
				Options: []propertyOption{{Label: "CRM", Value: "CRM"}}},
			{Name: "hs_communication_body", Label: "Body", Type: "string", FieldType: "textarea"},
			dt("hs_timestamp", "Activity date"),
			{Name: "hs_attachment_ids", Label: "Attachment IDs", Type: "enumeration", FieldType: "checkbox", ExternalOptions: true},
			ro(str("hs_body_preview", "Body preview")),
		}
	case "contacts":
		own = []propertyDef{
			str("email", "Email"), str("firstname", "First Name"), str("lastname", "Last Name"),
			{Name: "phone", Label: "Phone Number", Type: "string", FieldType: "phonenumber"},
			{Name: "mobilephone", Label: "Mobile Phone Number", Type: "string", FieldType: "phonenumber"},
			{Name: "hs_whatsapp_phone_number", Label: "WhatsApp Phone Number", Type: "string", FieldType: "phonenumber"},
			str("hs_linkedin_url", "LinkedIn URL"), str("company", "Company Name"),
			num("hs_pinned_engagement_id", "Pinned Engagement ID"),
			ro(dt("createdate", "Create Date")), ro(dt("lastmodifieddate", "Last Modified Date")),
			ro(str("hs_calculated_phone_number", "Calculated Phone Number")),
			ro(str("hs_calculated_phone_number_country_code", "Calculated Phone Number Country Code")),
			ro(str("hs_calculated_mobile_number", "Calculated Mobile Number")),
			ro(str("hs_searchable_calculated_phone_number", "Phone Number (searchable)")),
			ro(str("hs_searchable_calculated_mobile_number", "Mobile Number (searchable)")),
			ro(str("hs_searchable_calculated_international_phone_number", "International Phone Number (searchable)")),
		}
	case "companies":
		own = []propertyDef{str("name", "Company name"), str("domain", "Company Domain Name"), str("phone", "Phone Number"),
			str("website", "Website URL"), num("hs_pinned_engagement_id", "Pinned Engagement ID"), ro(dt("createdate", "Create Date"))}
	case "deals":
		own = []propertyDef{str("dealname", "Deal Name"), num("amount", "Amount"), dt("closedate", "Close Date"),
			str("dealstage", "Deal Stage"), str("pipeline", "Pipeline"), num("hs_pinned_engagement_id", "Pinned Engagement ID"),
			ro(dt("createdate", "Create Date"))}
	case "tickets":
		own = []propertyDef{str("subject", "Ticket name"), str("content", "Ticket description"), str("hs_pipeline", "Pipeline"),
			str("hs_pipeline_stage", "Ticket status"), num("hs_pinned_engagement_id", "Pinned Engagement ID"),
			ro(dt("createdate", "Create Date"))}
	}
	out := append(own, common...)
	for i := range out {
		out[i].HubspotDefined = true
		out[i].GroupName = builtinGroup(lookupType(typ)).Name
		out[i].DisplayOrder = -1
		if out[i].Options == nil {
			out[i].Options = []propertyOption{}
		}
	}
	return out
}

// builtinGroup is the property group HubSpot's own properties of a type
// sit in, e.g. "communicationinformation" (the name HubSpot uses for
// contacts is "contactinformation"; the others follow the same pattern).
func builtinGroup(t *objectType) propertyGroup {
	return propertyGroup{Name: t.singular + "information", Label: strings.ToUpper(t.singular[:1]) + t.singular[1:] + " information"}
}
