package sandbox

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	rd, wr, se := routeInfo{}, routeInfo{write: true}, routeInfo{search: true}
	s.handle("GET /crm/v3/objects/{type}", rd, s.list)
	s.handle("POST /crm/v3/objects/{type}", wr, s.createOne)
	s.handle("POST /crm/v3/objects/{type}/search", se, s.search)
	s.handle("POST /crm/v3/objects/{type}/batch/create", wr, s.batchCreate)
	s.handle("POST /crm/v3/objects/{type}/batch/read", rd, s.batchRead)
	s.handle("POST /crm/v3/objects/{type}/batch/update", wr, s.batchUpdate)
	s.handle("POST /crm/v3/objects/{type}/batch/upsert", wr, s.batchUpsert)
	s.handle("POST /crm/v3/objects/{type}/batch/archive", wr, s.batchArchive)
	s.handle("GET /crm/v3/objects/{type}/{id}", rd, s.getOne)
	s.handle("PATCH /crm/v3/objects/{type}/{id}", wr, s.updateOne)
	s.handle("DELETE /crm/v3/objects/{type}/{id}", wr, s.archiveOne)

	s.handle("GET /crm/v3/objects/{from}/{id}/associations/{to}", rd, s.listAssocV3)
	s.handle("PUT /crm/v3/objects/{from}/{id}/associations/{to}/{toId}/{assocType}", wr, s.putAssocV3)
	s.handle("DELETE /crm/v3/objects/{from}/{id}/associations/{to}/{toId}/{assocType}", wr, s.deleteAssocV3)
	s.handle("POST /crm/v3/associations/{from}/{to}/batch/{op}", wr, s.batchAssocV3)

	s.handle("POST /crm/v4/associations/{from}/{to}/batch/{op}", wr, s.batchAssocV4)
	s.handle("POST /crm/v4/associations/{from}/{to}/batch/associate/default", wr, s.batchAssocV4)
	s.handle("POST /crm/v4/associations/{from}/{to}/batch/labels/archive", wr, s.archiveLabelsV4)
	s.handle("GET /crm/v4/objects/{from}/{id}/associations/{to}", rd, s.getAssocV4)
	s.handle("PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId}", wr, s.putAssocV4)
	s.handle("DELETE /crm/v4/objects/{from}/{id}/associations/{to}/{toId}", wr, s.deleteAssocV4)
	s.handle("PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}", wr, s.putDefaultAssocV4)

	s.handle("GET /crm/v3/properties/{type}", rd, s.listProperties)
	s.handle("POST /crm/v3/properties/{type}", wr, s.createProperty)
	s.handle("GET /crm/v3/properties/{type}/{name}", rd, s.getProperty)
	s.handle("GET /crm/v3/properties/{type}/groups", rd, s.listPropertyGroups)
	s.handle("POST /crm/v3/properties/{type}/groups", wr, s.createPropertyGroup)
	s.handle("GET /crm/v3/properties/{type}/groups/{group}", rd, s.getPropertyGroup)
	s.handle("GET /crm/v3/owners", rd, s.listOwners)
	s.handle("GET /crm/v3/owners/{ownerId}", rd, s.getOwner)

	s.handle("GET /__sandbox/stats", rd, func(*http.Request) result { return respond(http.StatusOK, s.Stats()) })
	s.handle("POST /__sandbox/reset", wr, func(*http.Request) result {
		if err := s.reset(); err != nil {
			return fail(newAPIError(http.StatusInternalServerError, "INTERNAL_ERROR", "reset: %v", err))
		}
		return respond(http.StatusOK, map[string]string{"status": "reset"})
	})
	s.handle("/", rd, func(r *http.Request) result {
		// HubSpot answers unknown API paths with a plain 404.
		e := newAPIError(http.StatusNotFound, "OBJECT_NOT_FOUND", "No route for %s %s", r.Method, r.URL.Path)
		return fail(e)
	})
}

// ---- properties ----

func (s *Server) listProperties(r *http.Request) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	return respond(http.StatusOK, map[string]any{"results": inOrder(tb.propOrder, tb.props)})
}

// inOrder copies the values of m named by order, in that order.
func inOrder[T any](order []string, m map[string]*T) []T {
	out := make([]T, 0, len(order))
	for _, n := range order {
		out = append(out, *m[n])
	}
	return out
}

// missingFields is HubSpot's bean-validation answer to a create body
// without the required fields named.
func missingFields(missing []string) *apiError {
	e := badRequest("Invalid input JSON: missing required fields %s", strings.Join(missing, ", "))
	for _, m := range missing {
		e.Errors = append(e.Errors, errorDetail{Message: "must not be null", In: m, Code: "REQUIRED_FIELD"})
	}
	return e
}

// alreadyExists is the 409 for creating a property or a group (what)
// under a name already taken; HubSpot's exact wording is undocumented.
func alreadyExists(what, name string) *apiError {
	e := newAPIError(http.StatusConflict, "OBJECT_ALREADY_EXISTS", "%s named '%s' already exists.", what, name)
	e.Context = map[string][]string{"name": {name}}
	return e
}

func (s *Server) getProperty(r *http.Request) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	p := tb.props[r.PathValue("name")]
	if p == nil {
		return fail(newAPIError(http.StatusNotFound, "OBJECT_NOT_FOUND", "Unable to find property %s for object type %s", r.PathValue("name"), tb.typ.typeID))
	}
	return respond(http.StatusOK, p)
}

var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (s *Server) listPropertyGroups(r *http.Request) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	return respond(http.StatusOK, map[string]any{"results": inOrder(tb.groupOrder, tb.groups)})
}

func (s *Server) getPropertyGroup(r *http.Request) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	g := tb.groups[r.PathValue("group")]
	if g == nil {
		// Wording unconfirmed; the status and category follow getProperty.
		return fail(newAPIError(http.StatusNotFound, "OBJECT_NOT_FOUND", "Unable to find property group %s for object type %s", r.PathValue("group"), tb.typ.typeID))
	}
	return respond(http.StatusOK, g)
}

// createPropertyGroup serves POST /crm/v3/properties/{type}/groups:
// PropertyGroupCreate requires name and label; displayOrder is optional.
func (s *Server) createPropertyGroup(r *http.Request) result {
	var in propertyGroup
	if e := decode(r, &in); e != nil {
		return fail(e)
	}
	var missing []string
	if strings.TrimSpace(in.Label) == "" {
		missing = append(missing, "label")
	}
	if strings.TrimSpace(in.Name) == "" {
		missing = append(missing, "name")
	}
	if len(missing) > 0 {
		return fail(missingFields(missing))
	}
	if !propertyName.MatchString(in.Name) {
		return fail(badRequest("Property group name %q is invalid: use lower case letters, digits and underscores, starting with a letter", in.Name))
	}
	in.Archived = false
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	if _, exists := tb.groups[in.Name]; exists {
		return fail(alreadyExists("Property group", in.Name))
	}
	tb.addGroup(in)
	s.st.pending = append(s.st.pending, walOp{Op: "group", T: tb.typ.name, Group: &in})
	return s.commit(respond(http.StatusCreated, in))
}

var propertyTypes = map[string][]string{
	"string":       {"text", "textarea", "file", "html", "phonenumber"},
	"number":       {"number", "calculation_equation"},
	"bool":         {"booleancheckbox", "checkbox", "select", "radio"},
	"date":         {"date"},
	"datetime":     {"date"},
	"enumeration":  {"select", "radio", "checkbox", "booleancheckbox"},
	"phone_number": {"phonenumber"},
}

// maxUniqueProperties: "the contact object type can only have a maximum of
// 10 unique properties", like the other object types (HubSpot changelog).
const maxUniqueProperties = 10

func (s *Server) createProperty(r *http.Request) result {
	var in propertyDef
	if e := decode(r, &in); e != nil {
		return fail(e)
	}
	var missing []string
	for k, v := range map[string]string{"name": in.Name, "label": in.Label, "type": in.Type, "fieldType": in.FieldType, "groupName": in.GroupName} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return fail(missingFields(missing))
	}
	if !propertyName.MatchString(in.Name) || strings.HasPrefix(in.Name, "hs_") {
		return fail(badRequest("Property name %q is invalid: use lower case letters, digits and underscores, starting with a letter, not hs_", in.Name))
	}
	fields, ok := propertyTypes[in.Type]
	if !ok {
		return fail(badRequest("Invalid property type %q: want one of bool, date, datetime, enumeration, number, phone_number, string", in.Type))
	}
	if !slices.Contains(fields, in.FieldType) {
		return fail(badRequest("fieldType %q is not valid for type %q", in.FieldType, in.Type))
	}
	if in.Type == "enumeration" && len(in.Options) == 0 {
		return fail(badRequest("Enumeration property %s needs options", in.Name))
	}
	if in.Type == "phone_number" {
		in.Type = "string"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	if tb.groups[in.GroupName] == nil {
		// A property must sit in an existing group; wording unconfirmed.
		return fail(badRequest("Property group %s does not exist for object type %s", in.GroupName, tb.typ.typeID))
	}
	if _, exists := tb.props[in.Name]; exists {
		return fail(alreadyExists("Property", in.Name))
	}
	if in.HasUniqueValue {
		n := 0
		for _, p := range tb.props {
			if p.HasUniqueValue {
				n++
			}
		}
		if n >= maxUniqueProperties {
			return fail(badRequest("%s already has %d unique properties, the maximum", tb.typ.name, maxUniqueProperties))
		}
	}
	now := formatTime(s.now())
	in.CreatedAt, in.UpdatedAt = now, now
	in.HubspotDefined, in.Calculated, in.ExternalOptions = false, false, false
	in.ModificationMetadata = modificationMetadata{Archivable: true}
	if in.Options == nil {
		in.Options = []propertyOption{}
	}
	tb.addProp(in)
	s.st.pending = append(s.st.pending, walOp{Op: "prop", T: tb.typ.name, Prop: &in})
	return s.commit(respond(http.StatusCreated, in))
}

// ---- owners ----

type owner struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Type      string `json:"type"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	UserID    int    `json:"userId"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
	Archived  bool   `json:"archived"`
	Teams     []any  `json:"teams"`
}

// owners are fixed: the sandbox has no user management.
var owners = []owner{
	{ID: "75000001", Email: "ana.owner@example.com", Type: "PERSON", FirstName: "Ana", LastName: "Owner", UserID: 9100001},
	{ID: "75000002", Email: "ben.owner@example.com", Type: "PERSON", FirstName: "Ben", LastName: "Owner", UserID: 9100002},
	{ID: "75000003", Email: "chen.owner@example.com", Type: "PERSON", FirstName: "Chen", LastName: "Owner", UserID: 9100003},
}

const ownersCreated = "2024-01-02T09:00:00Z"

func (s *Server) listOwners(r *http.Request) result {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return fail(badRequest("limit must be between 1 and 500, got %q", v))
		}
		limit = n
	}
	start := 0
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fail(badRequest("Invalid paging cursor after=%q", v))
		}
		start = n
	}
	email := strings.ToLower(q.Get("email"))
	var matched []owner
	for _, o := range owners {
		if email != "" && strings.ToLower(o.Email) != email {
			continue
		}
		o.CreatedAt, o.UpdatedAt, o.Teams = ownersCreated, ownersCreated, []any{}
		matched = append(matched, o)
	}
	res := map[string]any{}
	page := []owner{}
	if start < len(matched) {
		page = matched[start:min(start+limit, len(matched))]
	}
	res["results"] = page
	if start+limit < len(matched) {
		res["paging"] = paging{Next: nextPage{After: strconv.Itoa(start + limit)}}
	}
	return respond(http.StatusOK, res)
}

func (s *Server) getOwner(r *http.Request) result {
	for _, o := range owners {
		if o.ID == r.PathValue("ownerId") {
			o.CreatedAt, o.UpdatedAt, o.Teams = ownersCreated, ownersCreated, []any{}
			return respond(http.StatusOK, o)
		}
	}
	return fail(notFound(r.PathValue("ownerId")))
}
