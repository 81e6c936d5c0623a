package export

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
)

func TestPlan(t *testing.T) {
	defs := []crm.Property{{Name: "zeta"}, {Name: "hs_lastmodifieddate"}, {Name: "alpha"}, {Name: "hs_object_id"},
		{Name: "hs_createdate"}, {Name: "contact_ids"}, {Name: "archived"}}
	tests := []struct {
		name         string
		props        []string
		assocs       []string
		wantHeader   []string
		wantRequest  []string
		wantErr      string
		defsOverride []crm.Property
	}{
		{name: "every property, leading ones first", defsOverride: defs[:5],
			wantHeader:  []string{"id", "hs_object_id", "hs_createdate", "hs_lastmodifieddate", "alpha", "zeta", "archived", "archived_at"},
			wantRequest: []string{"hs_object_id", "hs_createdate", "hs_lastmodifieddate", "alpha", "zeta"}},
		{name: "selection adds what the walk needs to the request only", props: []string{"zeta", "alpha", "zeta", " "},
			assocs:      []string{"Tickets", "contact", "companies"},
			wantHeader:  []string{"id", "alpha", "zeta", "archived", "archived_at", "contact_ids", "company_ids", "ticket_ids"},
			wantRequest: []string{"alpha", "zeta", "hs_object_id", "hs_lastmodifieddate"}},
		{name: "unknown properties", props: []string{"alpha", "nope", "nada"}, wantErr: "properties nope, nada"},
		{name: "unknown association", assocs: []string{"owners"}, wantErr: `"owners"`},
		{name: "property shadows an association column", props: []string{"contact_ids"}, assocs: []string{"contacts"}, wantErr: "collides"},
		{name: "property shadows a fixed column", props: []string{"archived"}, wantErr: "collides"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := defs
			if tt.defsOverride != nil {
				d = tt.defsOverride
			}
			p, err := newPlan(d, tt.props, tt.assocs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantHeader, p.header()); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRequest, p.requested()); diff != "" {
				t.Errorf("requested (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValueNormalisation(t *testing.T) {
	p := &plan{types: map[string]string{"dt": "datetime", "d": "date", "s": "string"}}
	tests := []struct {
		prop, in, want string
	}{
		{"dt", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000Z"},
		{"dt", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z"},
		{"dt", "2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00.123Z"},
		{"dt", "1714557600000", "2024-05-01T10:00:00.000Z"},
		{"dt", "2024-05-01T10:00:00", "2024-05-01T10:00:00.000Z"},
		{"dt", "not a time", "not a time"},
		{"dt", "", ""},
		{"d", "1714521600000", "2024-05-01"},
		{"d", "2024-05-01", "2024-05-01"},
		{"s", "1714521600000", "1714521600000"},
	}
	for _, tt := range tests {
		o := &crm.Object{Properties: map[string]string{tt.prop: tt.in}}
		if got := p.value(o, tt.prop); got != tt.want {
			t.Errorf("%s %q → %q, want %q", tt.prop, tt.in, got, tt.want)
		}
	}
}

// FuzzParseTime: no panic on any value, and what parses formats back to
// an instant that parses to the same millisecond.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-05-01T10:00:00Z", "1714557600000", "-1", "2024-05-01", "", "-", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseTime(s)
		if !ok || tm.Year() < 0 || tm.Year() > 9999 {
			return
		}
		back, ok := parseTime(formatTime(tm))
		if !ok || back.UnixMilli() != tm.UnixMilli() {
			t.Errorf("%q → %v → %q does not round-trip", s, tm, formatTime(tm))
		}
	})
}

func TestAssociated(t *testing.T) {
	o := &crm.Object{Associations: map[string]crm.AssociationList{
		"contacts": {Results: []crm.AssociatedID{{ID: "901"}, {ID: "12"}, {ID: "901"}, {ID: "1000"}}},
		"contact":  {Results: []crm.AssociatedID{{ID: "5"}}},
		"deals":    {Results: []crm.AssociatedID{{ID: "3"}}},
	}}
	if diff := cmp.Diff([]string{"5", "12", "901", "1000"}, associated(o, crm.Contacts)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := associated(o, crm.Tickets); got != nil {
		t.Errorf("tickets = %v, want none", got)
	}
}
