package mapping

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// Properties of contacts that hold phone numbers, indexed as E.164.
var phoneProps = []string{"phone", "mobilephone", "hs_whatsapp_phone_number", "hs_calculated_phone_number", "hs_calculated_mobile_number"}

// Index resolves association targets and owner e-mails locally. It is built
// once per run, either from HubSpot (the import lists the objects with the
// properties IndexProperties names and calls Add for each) or from a
// contacts export (LoadContactsFile), so that no row needs a search request.
//
// An Index is safe for concurrent Resolve calls once it is built; Add,
// AddOwner, SetRegions and LoadContactsFile must not run concurrently with
// anything else.
type Index struct {
	ids     map[ixKey][]string
	owners  map[string]string
	dupOwn  map[string]bool
	regions []string
}

type ixKey struct{ objectType, by, value string }

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{ids: map[ixKey][]string{}, owners: map[string]string{}, dupOwn: map[string]bool{}}
}

// SetRegions sets the regions used to read national-format phone numbers of
// indexed records (a contact's "0151 …"), normally Mapping.PhoneRegions().
// A record's own hs_calculated_phone_number_country_code takes precedence.
// Call it before Add.
func (ix *Index) SetRegions(regions ...string) { ix.regions = slices.Clone(regions) }

func (ix *Index) put(k ixKey, id string) {
	ids := ix.ids[k]
	if !slices.Contains(ids, id) {
		ix.ids[k] = append(ids, id)
	}
}

// Add indexes one record: e-mail (lower-cased, with hs_additional_emails),
// phone properties as E.164, hs_linkedin_url normalised, and every property
// by its trimmed value (for associations by a unique property name).
func (ix *Index) Add(objectType, id string, props map[string]string) {
	if id == "" {
		return
	}
	for name, v := range props {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		ix.put(ixKey{objectType, name, v}, id)
		switch {
		case name == "email" || name == "hs_additional_emails":
			for _, e := range strings.Split(v, ";") {
				if n, ok := NormalizeEmail(e); ok {
					ix.put(ixKey{objectType, "email", n}, id)
				}
			}
		case slices.Contains(phoneProps, name):
			for _, e := range ix.phones(v, props["hs_calculated_phone_number_country_code"]) {
				ix.put(ixKey{objectType, "phone", e}, id)
			}
		case name == "hs_linkedin_url":
			if n, ok := NormalizeLinkedInURL(v); ok {
				ix.put(ixKey{objectType, "linkedin_url", n}, id)
			}
		}
	}
}

// phones reads a stored phone number: with its own country code, else with
// the record's country, else with each configured region.
func (ix *Index) phones(v, country string) []string {
	if e, err := NormalizePhone(v, ""); err == nil {
		return []string{e}
	}
	if country != "" {
		if e, err := NormalizePhone(v, strings.ToUpper(country)); err == nil {
			return []string{e}
		}
	}
	var out []string
	for _, r := range ix.regions {
		if e, err := NormalizePhone(v, r); err == nil && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// AddOwner indexes an owner's e-mail. An e-mail shared by two owners
// resolves to nothing.
func (ix *Index) AddOwner(id, email string) {
	e, ok := NormalizeEmail(email)
	if !ok || id == "" {
		return
	}
	if prev, seen := ix.owners[e]; seen && prev != id {
		ix.dupOwn[e] = true
	}
	ix.owners[e] = id
}

// ResolveOwner returns the owner id for an e-mail.
func (ix *Index) ResolveOwner(email string) (string, bool) {
	e, ok := NormalizeEmail(email)
	if !ok || ix.dupOwn[e] {
		return "", false
	}
	id, ok := ix.owners[e]
	return id, ok
}

// Resolve returns the ids a target matches: none, one, or several (then the
// row is unresolved, never guessed). By "id" it returns the value itself.
func (ix *Index) Resolve(t Target) []string {
	if t.Value == "" || t.Reason != "" {
		return nil
	}
	if t.By == "id" {
		return []string{t.Value}
	}
	return slices.Clone(ix.ids[ixKey{t.ObjectType, t.By, t.Value}])
}

// IndexProperties lists, per object type, the properties the import must
// fetch to build the index for m (nil when no target needs the index).
func IndexProperties(m *Mapping) map[string][]string {
	out := map[string][]string{}
	for _, a := range m.assocs {
		var props []string
		switch a.by {
		case "id":
			continue
		case "email":
			props = []string{"email", "hs_additional_emails"}
		case "phone":
			if a.to == "contacts" {
				props = append(slices.Clone(phoneProps), "hs_calculated_phone_number_country_code")
			} else {
				props = []string{"phone"}
			}
		case "linkedin_url":
			props = []string{"hs_linkedin_url"}
		default:
			props = []string{a.by}
		}
		for _, p := range props {
			if !slices.Contains(out[a.to], p) {
				out[a.to] = append(out[a.to], p)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// PhoneRegions lists the default_region of the mapping's phone associations,
// for Index.SetRegions.
func (m *Mapping) PhoneRegions() []string {
	var out []string
	for _, a := range m.assocs {
		if a.defaultRegion != "" && !slices.Contains(out, a.defaultRegion) {
			out = append(out, a.defaultRegion)
		}
	}
	return out
}

// Export labels of HubSpot's contacts export → property names.
var contactLabels = map[string]string{
	"record id":                  "hs_object_id",
	"contact id":                 "hs_object_id",
	"id":                         "hs_object_id",
	"email":                      "email",
	"additional email addresses": "hs_additional_emails",
	"phone number":               "phone",
	"mobile phone number":        "mobilephone",
	"whatsapp phone number":      "hs_whatsapp_phone_number",
	"linkedin url":               "hs_linkedin_url",
	"first name":                 "firstname",
	"last name":                  "lastname",
	"company name":               "company",
}

// LoadContactsFile indexes a CSV of contacts: a HubSpot contacts export
// (labels such as "Record ID", "Email", "Phone Number", "Mobile Phone
// Number", "LinkedIn URL") or a file with property names as header
// (hs_object_id, email, phone, …). A record id column is required: without
// ids nothing could be associated. It returns the number of contacts indexed.
func (ix *Index) LoadContactsFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("contacts file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s:1: contacts file is empty", path)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: contacts file: %w", path, err)
	}
	names := make([]string, len(header))
	idCol := -1
	for i, h := range header {
		h = strings.TrimSpace(string(bytes.TrimPrefix([]byte(h), []byte("\ufeff"))))
		if p, ok := contactLabels[strings.ToLower(h)]; ok {
			h = p
		}
		names[i] = h
		if h == "hs_object_id" && idCol < 0 {
			idCol = i
		}
	}
	if idCol < 0 {
		return 0, fmt.Errorf("%s:1: contacts file has no record id column (want \"Record ID\" or hs_object_id; columns: %s)", path, strings.Join(names, ", "))
	}
	n := 0
	props := make(map[string]string, len(names))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: contacts file: %w", path, err) // csv.ParseError names the line
		}
		clear(props)
		for i, v := range rec {
			if i < len(names) {
				props[names[i]] = v
			}
		}
		id := strings.TrimSpace(props["hs_object_id"])
		if id == "" {
			line, _ := r.FieldPos(0)
			return n, fmt.Errorf("%s:%d: contact without a record id", path, line)
		}
		ix.Add("contacts", id, props)
		n++
	}
}
