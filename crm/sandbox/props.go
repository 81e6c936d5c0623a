package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// uniqueEnforced reports whether writes must keep p's values distinct.
// HubSpot also keeps contact emails unique without flagging the property.
func uniqueEnforced(typ string, p *propertyDef) bool {
	return p.HasUniqueValue || (typ == "contacts" && p.Name == "email")
}

func problem(name, code, msg string) propertyProblem {
	return propertyProblem{IsValid: false, Message: msg, Error: code, Name: name, Localized: msg}
}

// validateWrite checks the properties of a create (strict: an unknown
// property is PROPERTY_DOESNT_EXIST) or an update (lenient, as the
// communications guide says: "HubSpot will ignore values for read-only and
// non-existent properties"). Read-only values are ignored in both. The
// returned map holds normalised values; "" means clear.
func (tb *table) validateWrite(in map[string]flexString, create bool) (map[string]string, []propertyProblem) {
	out := make(map[string]string, len(in))
	var probs []propertyProblem
	for name, fv := range in {
		def := tb.props[name]
		if def == nil {
			if create {
				probs = append(probs, problem(name, "PROPERTY_DOESNT_EXIST", fmt.Sprintf("Property \"%s\" does not exist", name)))
			}
			continue
		}
		if def.ModificationMetadata.ReadOnlyValue {
			continue
		}
		// Keys are the definition's own strings: a million records then
		// share one copy of each property name instead of one each.
		if fv.s == "" {
			if !create {
				out[def.Name] = ""
			}
			continue
		}
		v, p := normalizeValue(def, fv.s)
		if p != nil {
			probs = append(probs, *p)
			continue
		}
		out[def.Name] = v
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].Name < probs[j].Name })
	if tb.typ.name == "contacts" {
		derivePhones(out)
	}
	return out, probs
}

// normalizeValue validates v against def and returns the stored form.
func normalizeValue(def *propertyDef, v string) (string, *propertyProblem) {
	bad := func(code, msg string) (string, *propertyProblem) {
		p := problem(def.Name, code, msg)
		p.PropertyValue = v
		return "", &p
	}
	switch def.Type {
	case "enumeration":
		if def.ExternalOptions {
			if def.Name == "hubspot_owner_id" {
				if _, err := strconv.ParseUint(v, 10, 64); err != nil {
					return bad("INVALID_OWNER_ID", fmt.Sprintf("%s is not a valid owner id", v))
				}
			}
			return v, nil
		}
		vals := []string{v}
		if def.FieldType == "checkbox" {
			vals = strings.Split(v, ";")
		}
		for i, x := range vals {
			idx := slices.IndexFunc(def.Options, func(o propertyOption) bool { return o.Value == x })
			if idx < 0 {
				allowed := make([]string, len(def.Options))
				for j, o := range def.Options {
					allowed[j] = o.Value
				}
				return bad("INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", x, strings.Join(allowed, ", ")))
			}
			vals[i] = def.Options[idx].Value // share the definition's string
		}
		return strings.Join(vals, ";"), nil
	case "datetime":
		// "You can use either a Unix timestamp in milliseconds or UTC
		// format"; HubSpot answers with ISO-8601 (see formatTime).
		t, ok := parseInstant(v)
		if !ok {
			return bad("INVALID_DATETIME", fmt.Sprintf("%s was not a valid datetime: use epoch milliseconds or ISO-8601", v))
		}
		return formatTime(t), nil
	case "date":
		t, ok := parseInstant(v)
		if !ok || t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			return bad("INVALID_DATE", fmt.Sprintf("%s is not a valid date: dates must be midnight UTC", v))
		}
		return t.Format("2006-01-02"), nil
	case "number":
		// HubSpot's code for a number that is not one is INVALID_INTEGER,
		// even on a property with decimals (a real answer for a deal's
		// amount: Atlas-Authority/marketing-automation#206).
		if strings.TrimSpace(v) != v {
			return bad("INVALID_INTEGER", fmt.Sprintf("%q has leading or trailing whitespace", v))
		}
		if _, ok := parseNumber(v); !ok {
			return bad("INVALID_INTEGER", fmt.Sprintf("%s was not a valid number.", v))
		}
		return v, nil
	case "bool":
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), nil
		}
		return bad("INVALID_BOOLEAN", fmt.Sprintf("%s was not a valid boolean: use true or false", v))
	}
	return v, nil
}

// derivePhones computes HubSpot's calculated phone properties whenever
// phone or mobilephone is written (hubspot-api.md §11).
func derivePhones(changes map[string]string) {
	set := func(src, calc, searchable string, withCountry bool) {
		raw, ok := changes[src]
		if !ok {
			return
		}
		e164, national, region := "", "", ""
		if n, err := phonenumbers.Parse(raw, "US"); err == nil && phonenumbers.IsPossibleNumber(n) {
			e164 = phonenumbers.Format(n, phonenumbers.E164)
			national = strconv.FormatUint(n.GetNationalNumber(), 10)
			region = phonenumbers.GetRegionCodeForNumber(n)
		}
		changes[calc] = e164
		changes[searchable] = national
		if withCountry {
			changes["hs_calculated_phone_number_country_code"] = region
			changes["hs_searchable_calculated_international_phone_number"] = national
		}
	}
	set("phone", "hs_calculated_phone_number", "hs_searchable_calculated_phone_number", true)
	set("mobilephone", "hs_calculated_mobile_number", "hs_searchable_calculated_mobile_number", false)
}

// uniqueConflicts checks hasUniqueValue properties of a write against the
// stored records and the earlier inputs of the same request (seen).
func (tb *table) uniqueConflict(self uint64, changes map[string]string, seen map[string]map[string]bool) *apiError {
	for p, idx := range tb.unique {
		v, ok := changes[p]
		if !ok || v == "" {
			continue
		}
		if id, taken := idx[v]; taken && id != self {
			return tb.conflict(p, v, idString(id))
		}
		if seen != nil {
			if seen[p] == nil {
				seen[p] = map[string]bool{}
			}
			if seen[p][v] {
				return tb.conflict(p, v, "")
			}
			seen[p][v] = true
		}
	}
	return nil
}

// conflict is modelled on HubSpot's 409 for a duplicate contact email
// ("Contact already exists. Existing ID: N", category CONFLICT), applied to
// every unique property. The exact wording for custom unique properties is
// not documented.
func (tb *table) conflict(prop, value, existing string) *apiError {
	name := strings.ToUpper(tb.typ.singular[:1]) + tb.typ.singular[1:]
	msg := fmt.Sprintf("%s already exists. Existing ID: %s", name, existing)
	detail := fmt.Sprintf("A %s with %s %s already exists. Existing ID: %s", tb.typ.singular, prop, value, existing)
	if existing == "" {
		msg = fmt.Sprintf("Duplicate value for unique property %s within the request", prop)
		detail = msg
	}
	e := newAPIError(http.StatusConflict, "CONFLICT", "%s", msg)
	e.Errors = []errorDetail{{Message: detail, In: prop}}
	return e
}

// render builds the wire form of o. want nil means the type's defaults;
// requested-but-unset properties are null, undefined ones are left out.
func (tb *table) render(o *object, want []string, all bool, assocWanted []string) publicObject {
	n := 3 + len(want)
	switch {
	case all:
		n = 3 + len(o.props)
	case want == nil:
		n = 3 + len(tb.typ.defaults)
	}
	props := make(map[string]*string, n)
	// One backing array for the values instead of one allocation each;
	// it never grows past n, so the pointers stay valid.
	vals := make([]string, 0, n)
	put := func(name string) {
		if v, ok := tb.value(o, name); ok {
			if len(vals) == cap(vals) {
				props[name] = &v
				return
			}
			vals = append(vals, v)
			props[name] = &vals[len(vals)-1]
		} else if _, defined := tb.props[name]; defined {
			props[name] = nil
		}
	}
	for _, k := range []string{"hs_object_id", "hs_createdate", "hs_lastmodifieddate"} {
		put(k)
	}
	switch {
	case all:
		for k := range o.props {
			put(k)
		}
	case want == nil:
		for _, k := range tb.typ.defaults {
			put(k)
		}
	default:
		for _, k := range want {
			put(k)
		}
	}
	po := publicObject{ID: idString(o.id), Properties: props, CreatedAt: formatTime(o.created), UpdatedAt: formatTime(o.updated), Archived: o.archived}
	if o.archived {
		po.ArchivedAt = formatTime(o.archivedAt)
	}
	for _, name := range assocWanted {
		t := lookupType(name)
		if t == nil {
			continue
		}
		if res := v3To(o, t.name); len(res) > 0 {
			if po.Associations == nil {
				po.Associations = map[string]assocCollection{}
			}
			po.Associations[t.name] = assocCollection{Results: res}
		}
	}
	return po
}

// listParam splits comma-separated, possibly repeated query parameters.
func listParam(vals []string) []string {
	if len(vals) == 0 {
		return nil
	}
	out := []string{}
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
