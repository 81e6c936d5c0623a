package sandbox

import (
	"net/http"
	"strconv"
)

const maxAssocInputs = 2000 // v4 batch create (hubspot-api.md §6)

// maxAssocReadInputs is v4 batch/read's limit since 2025-02-10 (HubSpot
// changelog "bug fix: batch read limit for HubSpot associations API").
const maxAssocReadInputs = 1000

// assocReadPage is how many associated records v4 batch/read returns per
// input before paging.next.after (UNCONFIRMED for batch/read; 500 is the
// v4 list endpoint's maximum limit).
const assocReadPage = 500

// pairTables resolves {from} and {to} path segments.
func (s *Server) pairTables(r *http.Request) (*table, *table, *apiError) {
	from, e := s.tableFor(r, "from")
	if e != nil {
		return nil, nil, e
	}
	to, e := s.tableFor(r, "to")
	if e != nil {
		return nil, nil, e
	}
	if _, ok := defaultAssoc(from.typ.name, to.typ.name); !ok {
		return nil, nil, badRequest("No association types between %s and %s", from.typ.name, to.typ.name)
	}
	return from, to, nil
}

// assocPair finds the live records an association input names; when
// either does not exist it returns the error HubSpot gives for the input
// (a 400 where it answers alone, an entry of a batch's errors).
func assocPair(from, to *table, fromID, toID string) (a, b *object, e *apiError) {
	a, b = from.get(fromID, false), to.get(toID, false)
	if a == nil || b == nil {
		e := badRequest("One or more associations are invalid: %s %s or %s %s does not exist", from.typ.singular, fromID, to.typ.singular, toID)
		e.Context = map[string][]string{"fromObjectId": {fromID}, "toObjectId": {toID}}
		return nil, nil, e
	}
	return a, b, nil
}

// v3To lists o's associations to toType as the v3 API answers them:
// each associated id once per association type, ids ascending.
func v3To(o *object, toType string) []associatedID {
	out := []associatedID{}
	for _, id := range associatedIDs(o, toType) {
		for _, ty := range o.assoc[toType][id] {
			if at, ok := assocTypeByID(ty); ok {
				out = append(out, associatedID{ID: idString(id), Type: at.name})
			}
		}
	}
	return out
}

// ---- v3 single-record association paths ----

// v3AssocRef reads the object types and the association type (numeric or a
// name like communication_to_contact) of a v3 single-association path.
func (s *Server) v3AssocRef(r *http.Request) (from, to *table, at assocType, e *apiError) {
	from, to, e = s.pairTables(r)
	if e != nil {
		return nil, nil, at, e
	}
	at, ok := assocTypeByRef(r.PathValue("assocType"))
	if !ok || at.from != from.typ.name || at.to != to.typ.name {
		return nil, nil, at, badRequest("Invalid association type %s between %s and %s", r.PathValue("assocType"), from.typ.name, to.typ.name)
	}
	return from, to, at, nil
}

// putAssocV3 serves PUT /crm/v3/objects/{from}/{id}/associations/{to}/{toId}/{assocType};
// assocType is numeric or a name like communication_to_contact.
func (s *Server) putAssocV3(r *http.Request) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, at, e := s.v3AssocRef(r)
	if e != nil {
		return fail(e)
	}
	a, b := from.get(r.PathValue("id"), false), to.get(r.PathValue("toId"), false)
	if a == nil {
		return fail(notFound(r.PathValue("id")))
	}
	if b == nil {
		return fail(notFound(r.PathValue("toId")))
	}
	s.st.associate(at, a, b)
	return s.commit(respond(http.StatusOK, from.render(a, nil, false, []string{to.typ.name})))
}

func (s *Server) deleteAssocV3(r *http.Request) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, at, e := s.v3AssocRef(r)
	if e != nil {
		return fail(e)
	}
	a, b := from.get(r.PathValue("id"), false), to.get(r.PathValue("toId"), false)
	if a != nil && b != nil {
		s.st.unassociate(at, a, b, false)
	}
	return s.commit(respond(http.StatusNoContent, nil))
}

func (s *Server) listAssocV3(r *http.Request) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	a := from.get(r.PathValue("id"), archivedParam(r))
	if a == nil {
		return fail(notFound(r.PathValue("id")))
	}
	return respond(http.StatusOK, map[string]any{"results": v3To(a, to.typ.name)})
}

// ---- v3 batch associations API ----

type v3AssocInput struct {
	From objectID   `json:"from"`
	To   objectID   `json:"to"`
	Type flexString `json:"type"`
}

type v3AssocResult struct {
	From objectID       `json:"from"`
	To   []associatedID `json:"to"`
}

func (s *Server) batchAssocV3(r *http.Request) result {
	started := s.now()
	op := r.PathValue("op")
	var req struct {
		Inputs []v3AssocInput `json:"inputs"`
	}
	if op == "read" {
		var rr batchArchiveRequest
		if e := decode(r, &rr); e != nil {
			return fail(e)
		}
		for _, in := range rr.Inputs {
			req.Inputs = append(req.Inputs, v3AssocInput{From: in})
		}
	} else if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxBatchInputs); e != nil {
		return fail(e)
	}
	defer s.lockFor(op)()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	def, _ := defaultAssoc(from.typ.name, to.typ.name)
	var results []v3AssocResult
	var errs []apiError
	var missing []string
	for _, in := range req.Inputs {
		if op == "read" {
			a := from.get(in.From.ID.s, false)
			if a == nil {
				missing = append(missing, in.From.ID.s)
				continue
			}
			if ids := v3To(a, to.typ.name); len(ids) > 0 {
				results = append(results, v3AssocResult{From: in.From, To: ids})
			}
			continue
		}
		at := def
		if in.Type.s != "" {
			t, ok := assocTypeByRef(in.Type.s)
			if !ok || t.from != from.typ.name || t.to != to.typ.name {
				return fail(badRequest("Invalid association type %s between %s and %s", in.Type.s, from.typ.name, to.typ.name))
			}
			at = t
		}
		a, b, e := assocPair(from, to, in.From.ID.s, in.To.ID.s)
		if e != nil {
			if op == "create" {
				errs = append(errs, *e)
			}
			continue
		}
		if op == "create" {
			s.st.associate(at, a, b)
			results = append(results, v3AssocResult{From: in.From, To: []associatedID{{ID: in.To.ID.s, Type: at.name}}})
		} else {
			s.st.unassociate(at, a, b, false)
		}
	}
	if results == nil {
		results = []v3AssocResult{}
	}
	switch op {
	case "archive":
		return s.commit(respond(http.StatusNoContent, nil))
	case "read":
		return s.batchAnswer(started, http.StatusOK, results, notFoundErrs(from, missing))
	}
	return s.commit(s.batchAnswer(started, http.StatusCreated, results, errs))
}

// ---- v4 ----

type v4AssocInput struct {
	From  objectID        `json:"from"`
	To    objectID        `json:"to"`
	Types []assocTypeSpec `json:"types"`
}

type v4LabelsResult struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     int64    `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       int64    `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

type v4DefaultResult struct {
	From            objectID      `json:"from"`
	To              objectID      `json:"to"`
	AssociationSpec assocTypeSpec `json:"associationSpec"`
}

type v4AssocType struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

type v4MultiTo struct {
	ToObjectID       int64         `json:"toObjectId"`
	AssociationTypes []v4AssocType `json:"associationTypes"`
}

func v4To(o *object, toType string) []v4MultiTo {
	out := []v4MultiTo{}
	for _, id := range associatedIDs(o, toType) {
		m := v4MultiTo{ToObjectID: int64(id)}
		for _, ty := range o.assoc[toType][id] {
			m.AssociationTypes = append(m.AssociationTypes, v4AssocType{Category: "HUBSPOT_DEFINED", TypeID: ty})
		}
		out = append(out, m)
	}
	return out
}

func (s *Server) v4Link(from, to *table, a, b *object, types []assocTypeSpec) (v4LabelsResult, *apiError) {
	for _, ty := range types {
		at, ok := assocTypeByID(ty.AssociationTypeID)
		if !ok || at.from != from.typ.name || at.to != to.typ.name {
			return v4LabelsResult{}, badRequest("Invalid association type %s %d between %s and %s", ty.AssociationCategory, ty.AssociationTypeID, from.typ.name, to.typ.name)
		}
	}
	for _, ty := range types {
		at, _ := assocTypeByID(ty.AssociationTypeID)
		s.st.associate(at, a, b)
	}
	return v4LabelsResult{FromObjectTypeID: from.typ.typeID, FromObjectID: int64(a.id), ToObjectTypeID: to.typ.typeID,
		ToObjectID: int64(b.id), Labels: []string{}}, nil
}

func (s *Server) batchAssocV4(r *http.Request) result {
	started := s.now()
	op := r.PathValue("op")
	if op == "" {
		op = "associate/default"
	}
	var req struct {
		Inputs []v4AssocInput `json:"inputs"`
	}
	var archiveReq struct {
		Inputs []struct {
			From objectID   `json:"from"`
			To   []objectID `json:"to"`
		} `json:"inputs"`
	}
	// readReq is BatchInputPublicFetchAssociationsBatchRequest: after asks
	// for the next page of one record's associations.
	var readReq struct {
		Inputs []struct {
			ID    flexString `json:"id"`
			After string     `json:"after"`
		} `json:"inputs"`
	}
	n := 0
	if op == "archive" {
		if e := decode(r, &archiveReq); e != nil {
			return fail(e)
		}
		n = len(archiveReq.Inputs)
	} else {
		if op == "read" {
			if e := decode(r, &readReq); e != nil {
				return fail(e)
			}
			for _, in := range readReq.Inputs {
				req.Inputs = append(req.Inputs, v4AssocInput{From: objectID{ID: in.ID}})
			}
		} else if e := decode(r, &req); e != nil {
			return fail(e)
		}
		n = len(req.Inputs)
	}
	limit := maxAssocInputs
	if op == "read" {
		limit = maxAssocReadInputs
	}
	if e := checkInputs(n, limit); e != nil {
		return fail(e)
	}
	defer s.lockFor(op)()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	var errs []apiError
	switch op {
	case "archive":
		def, _ := defaultAssoc(from.typ.name, to.typ.name)
		for _, in := range archiveReq.Inputs {
			a := from.get(in.From.ID.s, false)
			for _, t := range in.To {
				if b := to.get(t.ID.s, false); a != nil && b != nil {
					s.st.unassociate(def, a, b, true)
				}
			}
		}
		return s.commit(respond(http.StatusNoContent, nil))
	case "read":
		// BatchResponsePublicAssociationMultiWithLabel. A record with no
		// associations of the type, or that does not exist (or is
		// archived), is not a result but one NO_ASSOCIATIONS_FOUND entry in
		// errors[] and the answer a 207, as HubSpot does (observed in
		// public integrations; the spec only names the 207 schema).
		type readResult struct {
			From   objectID    `json:"from"`
			To     []v4MultiTo `json:"to"`
			Paging *paging     `json:"paging,omitempty"`
		}
		results := []readResult{}
		for i, in := range req.Inputs {
			a := from.get(in.From.ID.s, false)
			var all []v4MultiTo
			if a != nil {
				all = v4To(a, to.typ.name)
			}
			off := 0
			if after := readReq.Inputs[i].After; after != "" {
				n, err := strconv.Atoi(after)
				if err != nil || n < 0 || n > len(all) {
					return fail(badRequest("Invalid after %q for object %s", after, in.From.ID.s))
				}
				off = n
			}
			if len(all) == 0 {
				errs = append(errs, noAssociations(from, to, in.From.ID.s))
				continue
			}
			end := min(off+assocReadPage, len(all))
			res := readResult{From: in.From, To: all[off:end]}
			if end < len(all) {
				res.Paging = &paging{Next: nextPage{After: strconv.Itoa(end), Link: "?after=" + strconv.Itoa(end)}}
			}
			results = append(results, res)
		}
		return s.batchAnswer(started, http.StatusOK, results, errs)
	case "create":
		results := []v4LabelsResult{}
		for _, in := range req.Inputs {
			a, b, e := assocPair(from, to, in.From.ID.s, in.To.ID.s)
			if e != nil {
				errs = append(errs, *e)
				continue
			}
			res, e := s.v4Link(from, to, a, b, in.Types)
			if e != nil {
				return s.commit(fail(e))
			}
			results = append(results, res)
		}
		return s.commit(s.batchAnswer(started, http.StatusCreated, results, errs))
	default: // associate/default
		def, _ := defaultAssoc(from.typ.name, to.typ.name)
		results := []v4DefaultResult{}
		for _, in := range req.Inputs {
			a, b, e := assocPair(from, to, in.From.ID.s, in.To.ID.s)
			if e != nil {
				errs = append(errs, *e)
				continue
			}
			s.st.associate(def, a, b)
			spec := assocTypeSpec{AssociationCategory: "HUBSPOT_DEFINED", AssociationTypeID: def.id}
			results = append(results, v4DefaultResult{From: in.From, To: in.To, AssociationSpec: spec},
				v4DefaultResult{From: in.To, To: in.From, AssociationSpec: assocTypeSpec{AssociationCategory: "HUBSPOT_DEFINED", AssociationTypeID: reverseAssoc(def).id}})
		}
		return s.commit(s.batchAnswer(started, http.StatusOK, results, errs))
	}
}

func noAssociations(from, to *table, fromID string) apiError {
	return apiError{Status: "error", Category: "OBJECT_NOT_FOUND", SubCategory: "crm.associations.NO_ASSOCIATIONS_FOUND",
		Message: "No " + to.typ.singular + " is associated with " + from.typ.singular + " " + fromID + ".",
		Context: map[string][]string{"fromObjectId": {fromID}, "fromObjectType": {from.typ.singular}, "toObjectType": {to.typ.singular}}}
}

// archiveLabelsV4 serves POST /crm/v4/associations/{from}/{to}/batch/labels/archive
// (BatchInputPublicAssociationMultiPost → 204): each pair loses only the
// types named. The spec adds that deleting the unlabeled type deletes the
// labeled ones too; the sandbox has only unlabeled (default) types, so
// that is the same thing here. Pairs whose records do not exist are
// skipped, like batch/archive; a type that does not link the two object
// types is refused before anything changes.
func (s *Server) archiveLabelsV4(r *http.Request) result {
	var req struct {
		Inputs []v4AssocInput `json:"inputs"`
	}
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxAssocInputs); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	for _, in := range req.Inputs {
		if len(in.Types) == 0 {
			return fail(badRequest("Association types are required for %s %s and %s %s", from.typ.singular, in.From.ID.s, to.typ.singular, in.To.ID.s))
		}
		for _, ty := range in.Types {
			if at, ok := assocTypeByID(ty.AssociationTypeID); !ok || at.from != from.typ.name || at.to != to.typ.name {
				return fail(badRequest("Invalid association type %s %d between %s and %s", ty.AssociationCategory, ty.AssociationTypeID, from.typ.name, to.typ.name))
			}
		}
	}
	for _, in := range req.Inputs {
		a, b := from.get(in.From.ID.s, false), to.get(in.To.ID.s, false)
		if a == nil || b == nil {
			continue
		}
		for _, ty := range in.Types {
			at, _ := assocTypeByID(ty.AssociationTypeID)
			s.st.unassociate(at, a, b, false)
		}
	}
	return s.commit(respond(http.StatusNoContent, nil))
}

// getAssocV4 serves GET /crm/v4/objects/{from}/{id}/associations/{to}.
func (s *Server) getAssocV4(r *http.Request) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	a := from.get(r.PathValue("id"), false)
	if a == nil {
		return fail(notFound(r.PathValue("id")))
	}
	return respond(http.StatusOK, map[string]any{"results": v4To(a, to.typ.name)})
}

// putAssocV4 serves PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId}
// with a body of association types (labelled association).
func (s *Server) putAssocV4(r *http.Request) result {
	var types []assocTypeSpec
	if e := decode(r, &types); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	a, b, e := assocPair(from, to, r.PathValue("id"), r.PathValue("toId"))
	if e != nil {
		return fail(e)
	}
	res, e := s.v4Link(from, to, a, b, types)
	if e != nil {
		return fail(e)
	}
	return s.commit(respond(http.StatusCreated, res))
}

func (s *Server) putDefaultAssocV4(r *http.Request) result {
	started := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	a, b, e := assocPair(from, to, r.PathValue("id"), r.PathValue("toId"))
	if e != nil {
		return fail(e)
	}
	def, _ := defaultAssoc(from.typ.name, to.typ.name)
	s.st.associate(def, a, b)
	res := []v4DefaultResult{{From: objectID{ID: flexString{s: idString(a.id)}}, To: objectID{ID: flexString{s: idString(b.id)}},
		AssociationSpec: assocTypeSpec{AssociationCategory: "HUBSPOT_DEFINED", AssociationTypeID: def.id}}}
	return s.commit(respond(http.StatusOK, s.batchBody(started, res, nil)))
}

func (s *Server) deleteAssocV4(r *http.Request) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, e := s.pairTables(r)
	if e != nil {
		return fail(e)
	}
	def, _ := defaultAssoc(from.typ.name, to.typ.name)
	if a, b := from.get(r.PathValue("id"), false), to.get(r.PathValue("toId"), false); a != nil && b != nil {
		s.st.unassociate(def, a, b, true)
	}
	return s.commit(respond(http.StatusNoContent, nil))
}

// lockFor takes the store lock an association batch needs (shared for
// reads) and returns the function that releases it.
func (s *Server) lockFor(op string) func() {
	if op == "read" {
		s.mu.RLock()
		return s.mu.RUnlock
	}
	s.mu.Lock()
	return s.mu.Unlock
}
