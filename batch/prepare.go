package batch

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/mapping"
)

// buildIndex builds the local lookup index the association targets resolve
// through, once per run: contacts come from --contacts-file when given,
// everything else by paging HubSpot's list endpoint with only the
// properties the mapping matches on. Its size grows with the portal's
// records, not with the input (a documented, bounded index).
func (imp *importer) buildIndex(ctx context.Context) (*mapping.Index, error) {
	ix := mapping.NewIndex()
	m := imp.o.Mapping
	if imp.o.ContactsFile != "" {
		n, err := ix.LoadContactsFile(imp.o.ContactsFile)
		if err != nil {
			return nil, err
		}
		imp.log.Info("contacts index loaded from file", "file", imp.o.ContactsFile, "contacts", n)
	}
	need := mapping.IndexProperties(m)
	types := make([]string, 0, len(need))
	for t := range need {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, objectType := range types {
		if objectType == crm.Contacts && imp.o.ContactsFile != "" {
			continue
		}
		n, err := pageAll(ctx, imp.o.API, objectType, need[objectType], func(o crm.Object) {
			ix.Add(objectType, o.ID, o.Properties)
		})
		if err != nil {
			return nil, fmt.Errorf("building the %s index: %w", objectType, err)
		}
		imp.log.Info("lookup index built", "object_type", objectType, "records", n)
	}
	if m.OwnerLookup() {
		owners, err := imp.o.API.Owners(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading owners: %w", err)
		}
		for _, o := range owners {
			if !o.Archived {
				ix.AddOwner(o.ID, o.Email)
			}
		}
	}
	return ix, nil
}

// pageAll lists every record of objectType with the given properties.
func pageAll(ctx context.Context, api API, objectType string, props []string, fn func(crm.Object)) (int, error) {
	n := 0
	q := crm.ListOptions{Limit: 100, Properties: props}
	for {
		page, err := api.List(ctx, objectType, q)
		if err != nil {
			return n, err
		}
		for _, o := range page.Results {
			fn(o)
			n++
		}
		if page.After == "" {
			return n, nil
		}
		q.After = page.After
	}
}

// checkPortal compares the mapping with the portal's live definitions
// before a plan: unknown properties, read-only properties and enum values
// the portal does not offer are errors; a missing commlog_key property is
// a notice (a real run creates it).
func (imp *importer) checkPortal(ctx context.Context) ([]string, error) {
	props, err := imp.o.API.Properties(ctx, crm.Communications)
	if err != nil {
		return nil, fmt.Errorf("reading communication properties: %w", err)
	}
	defs := make(map[string]crm.Property, len(props))
	for _, p := range props {
		defs[p.Name] = p
	}
	var problems, notes []string
	m := imp.o.Mapping
	for _, name := range m.PropertyNames() {
		p, ok := defs[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("property %q does not exist on communications in this portal", name))
		case p.ModificationMetadata.ReadOnlyValue || p.Calculated:
			problems = append(problems, fmt.Sprintf("property %q is read-only in HubSpot", name))
		}
	}
	enums := m.EnumValues()
	names := make([]string, 0, len(enums))
	for n := range enums {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p, ok := defs[name]
		if !ok || len(p.Options) == 0 {
			continue
		}
		valid := make([]string, 0, len(p.Options))
		for _, o := range p.Options {
			valid = append(valid, o.Value)
		}
		for _, v := range enums[name] {
			if !slices.Contains(valid, v) {
				problems = append(problems, fmt.Sprintf("property %q: %q is not one of its options (%s)", name, v, strings.Join(valid, ", ")))
			}
		}
	}
	if _, ok := defs[crm.KeyProperty]; !ok {
		notes = append(notes, fmt.Sprintf("the %s property does not exist yet; a real run creates it", crm.KeyProperty))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the mapping does not fit this portal:\n  %s", strings.Join(problems, "\n  "))
	}
	return notes, nil
}
