package export

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/commlog/commlog/crm"
)

// Property names the walk and the column order depend on.
const (
	propID       = "hs_object_id"
	propCreated  = "hs_createdate"
	propModified = "hs_lastmodifieddate"
)

// leading are the properties that come first, in this order, when selected;
// every other property follows sorted by name.
var leading = []string{propID, propCreated, propModified}

// assocOrder is the canonical order of association columns, and the types
// --associations accepts.
var assocOrder = []string{crm.Contacts, crm.Companies, crm.Deals, crm.Tickets}

// assocColumn names the CSV column of one association type: "contact_ids".
func assocColumn(objectType string) string {
	switch objectType {
	case crm.Companies:
		return "company_ids"
	default:
		return strings.TrimSuffix(objectType, "s") + "_ids"
	}
}

// TimeLayout is how every timestamp is written: UTC ISO-8601 with
// milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

const dateLayout = "2006-01-02"

// plan is the output shape of one run: which property columns, in which
// order, how each value is normalised, and which association columns.
type plan struct {
	props  []string
	types  map[string]string // property name → HubSpot type (datetime, date, …)
	assocs []string          // canonical order
}

// newPlan validates the selection against the portal's property
// definitions. props nil selects every property.
func newPlan(defs []crm.Property, props, assocs []string) (*plan, error) {
	types := make(map[string]string, len(defs))
	for _, d := range defs {
		types[d.Name] = d.Type
	}
	p := &plan{types: types}
	if props == nil {
		for name := range types {
			p.props = append(p.props, name)
		}
	} else {
		var unknown []string
		seen := map[string]bool{}
		for _, name := range props {
			name = strings.TrimSpace(name)
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			if _, ok := types[name]; !ok {
				unknown = append(unknown, name)
				continue
			}
			p.props = append(p.props, name)
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("export: communications have no propert%s %s (see GET /crm/v3/properties/communications)",
				plural(len(unknown), "y", "ies"), strings.Join(unknown, ", "))
		}
	}
	sortColumns(p.props)
	want := map[string]bool{}
	for _, a := range assocs {
		t, ok := assocType(a)
		if !ok {
			return nil, fmt.Errorf("export: cannot export associations to %q: want %s", a, strings.Join(assocOrder, ", "))
		}
		want[t] = true
	}
	for _, t := range assocOrder {
		if want[t] {
			p.assocs = append(p.assocs, t)
			if slices.Contains(p.props, assocColumn(t)) {
				return nil, fmt.Errorf("export: property %s collides with the association column of the same name", assocColumn(t))
			}
		}
	}
	for _, fixed := range []string{"id", "archived", "archived_at"} {
		if slices.Contains(p.props, fixed) {
			return nil, fmt.Errorf("export: property %s collides with the column of the same name", fixed)
		}
	}
	return p, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// assocType accepts plural or singular names, any case.
func assocType(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, t := range assocOrder {
		if s == t || s == strings.TrimSuffix(t, "s") || (t == crm.Companies && s == "company") {
			return t, true
		}
	}
	return "", false
}

// sortColumns puts the leading properties first, the rest by name.
func sortColumns(props []string) {
	rank := func(name string) int {
		if i := slices.Index(leading, name); i >= 0 {
			return i
		}
		return len(leading)
	}
	sort.Slice(props, func(i, j int) bool {
		ri, rj := rank(props[i]), rank(props[j])
		if ri != rj {
			return ri < rj
		}
		return props[i] < props[j]
	})
}

// header is the CSV header: id, properties, archived, archived_at,
// association columns.
func (p *plan) header() []string {
	h := make([]string, 0, len(p.props)+3+len(p.assocs))
	h = append(h, "id")
	h = append(h, p.props...)
	h = append(h, "archived", "archived_at")
	for _, t := range p.assocs {
		h = append(h, assocColumn(t))
	}
	return h
}

// requested is what to ask HubSpot for: the selected properties plus the
// two the walk needs.
func (p *plan) requested() []string {
	out := slices.Clone(p.props)
	for _, must := range []string{propID, propModified} {
		if !slices.Contains(out, must) {
			out = append(out, must)
		}
	}
	return out
}

// value is one property of o as written out: datetimes and dates
// normalised to UTC ISO-8601; everything else as HubSpot sent it.
func (p *plan) value(o *crm.Object, name string) string {
	v := o.Properties[name]
	if v == "" {
		return ""
	}
	switch p.types[name] {
	case "datetime":
		if t, ok := parseTime(v); ok {
			return t.Format(TimeLayout)
		}
	case "date":
		if t, ok := parseTime(v); ok {
			return t.Format(dateLayout)
		}
	}
	return v
}

// associated returns the sorted, distinct ids o is associated with in
// objectType. HubSpot lists an id once per association type (label), and
// keys the map by the plural type name or, in some answers, the singular.
func associated(o *crm.Object, objectType string) []string {
	var ids []string
	for key, list := range o.Associations {
		if t, ok := assocType(key); !ok || t != objectType {
			continue
		}
		for _, r := range list.Results {
			ids = append(ids, r.ID)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return slices.Compact(ids)
}

// idLess orders numeric ids numerically (shorter first), others as text.
func idLess(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseTime reads a HubSpot datetime: ISO-8601 (with or without fraction
// and zone offset), a bare date, or epoch milliseconds.
func parseTime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if isDigits(v) || (v[0] == '-' && isDigits(v[1:])) {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", dateLayout} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// formatTime writes t in TimeLayout, "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}
