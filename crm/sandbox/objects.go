package sandbox

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	maxBatchInputs = 100 // "Batch operations are limited to 100 records at a time"
	maxListLimit   = 100
	portalID       = 99999999 // appears in HubSpot messages that name the portal
)

func (s *Server) tableFor(r *http.Request, key string) (*table, *apiError) {
	seg := r.PathValue(key)
	t := lookupType(seg)
	if t == nil {
		return nil, badRequest("Unable to infer object type from: %s", seg)
	}
	return s.st.tables[t.name], nil
}

// checkInputs enforces a batch's input count the way HubSpot's bean
// validation reports it.
func checkInputs(n, limit int) *apiError {
	if n < 1 || n > limit {
		e := badRequest("Invalid input JSON: inputs: size must be between 1 and %d", limit)
		e.Errors = []errorDetail{{Message: fmt.Sprintf("size must be between 1 and %d", limit), In: "inputs"}}
		return e
	}
	return nil
}

func archivedParam(r *http.Request) bool {
	return strings.EqualFold(r.URL.Query().Get("archived"), "true")
}

// commit queues the pending log entry; the pipeline waits for it to be
// written, after the lock is released, before answering (group commit). A
// failure to persist is a 500.
func (s *Server) commit(res result) result {
	seq, err := s.enqueueLocked()
	if err != nil {
		s.log.Error("sandbox: write-ahead log", "err", err)
		return fail(newAPIError(http.StatusInternalServerError, "INTERNAL_ERROR", "sandbox could not persist the write: %v", err))
	}
	res.walSeq = seq
	return res
}

type resolvedAssoc struct {
	typ    assocType
	target *object
}

type preparedCreate struct {
	props  map[string]string
	assocs []resolvedAssoc
	trace  string
}

// prepareCreate validates one create input without changing anything.
func (s *Server) prepareCreate(tb *table, in createInput, seen map[string]map[string]bool) (preparedCreate, *apiError) {
	props, probs := tb.validateWrite(in.Properties, true)
	if len(probs) > 0 {
		return preparedCreate{}, propertyError(probs)
	}
	p := preparedCreate{props: props, trace: in.ObjectWriteTraceID}
	for _, a := range in.Associations {
		if len(a.Types) == 0 {
			return preparedCreate{}, badRequest("association to %s has no types", a.To.ID.s)
		}
		for _, ty := range a.Types {
			at, ok := assocTypeByID(ty.AssociationTypeID)
			if !ok || at.from != tb.typ.name || (ty.AssociationCategory != "" && ty.AssociationCategory != "HUBSPOT_DEFINED") {
				e := badRequest("invalid association type %s %d from %s", ty.AssociationCategory, ty.AssociationTypeID, tb.typ.singular)
				e.Errors = []errorDetail{{Message: e.Message, Code: "INVALID_ASSOCIATION_TYPE"}}
				return preparedCreate{}, e
			}
			target := s.st.tables[at.to].get(a.To.ID.s, false)
			if target == nil {
				// Undocumented wording; HubSpot refuses the create with a 400.
				e := badRequest("One or more associations are invalid: no %s with id %s", lookupType(at.to).singular, a.To.ID.s)
				e.Errors = []errorDetail{{Message: e.Message, Code: "INVALID_OBJECT_ID",
					Context: map[string][]string{"toObjectId": {a.To.ID.s}, "toObjectType": {at.to}}}}
				return preparedCreate{}, e
			}
			p.assocs = append(p.assocs, resolvedAssoc{typ: at, target: target})
		}
	}
	if pin := props["hs_pinned_engagement_id"]; pin != "" {
		linked := slices.ContainsFunc(p.assocs, func(ra resolvedAssoc) bool {
			return ra.typ.to == "communications" && idString(ra.target.id) == pin
		})
		if !linked {
			return preparedCreate{}, pinError(pin, tb)
		}
	}
	if e := tb.uniqueConflict(0, props, seen); e != nil {
		return preparedCreate{}, e
	}
	return p, nil
}

// pinError: "The message must already be associated with the record prior
// to pinning" (communications guide). The wording is the sandbox's own.
func pinError(pin string, tb *table) *apiError {
	return propertyError([]propertyProblem{problem("hs_pinned_engagement_id", "INVALID_PINNED_ENGAGEMENT",
		fmt.Sprintf("engagement %s is not associated with this %s; associate it before pinning", pin, tb.typ.singular))})
}

// prepareUpdate validates an update of o without changing anything and
// returns the changes; seen collects a batch's unique values as
// prepareCreate's does.
func (s *Server) prepareUpdate(tb *table, o *object, props map[string]flexString, seen map[string]map[string]bool) (map[string]string, *apiError) {
	changes, probs := tb.validateWrite(props, false)
	if len(probs) > 0 {
		return nil, propertyError(probs)
	}
	if e := s.checkPin(tb, o, changes); e != nil {
		return nil, e
	}
	if e := tb.uniqueConflict(o.id, changes, seen); e != nil {
		return nil, e
	}
	return changes, nil
}

// checkPin validates pinning on an update of o.
func (s *Server) checkPin(tb *table, o *object, changes map[string]string) *apiError {
	pin, ok := changes["hs_pinned_engagement_id"]
	if !ok || pin == "" {
		return nil
	}
	id, _ := parseID(pin)
	if _, linked := o.assoc["communications"][id]; !linked {
		return pinError(pin, tb)
	}
	return nil
}

func (s *Server) createOne(r *http.Request) result {
	var in createInput
	if e := decode(r, &in); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	p, e := s.prepareCreate(tb, in, nil)
	if e != nil {
		return fail(e)
	}
	o := s.createPrepared(tb, p)
	return s.commit(respond(http.StatusCreated, tb.render(o, nil, true, nil)))
}

func (s *Server) createPrepared(tb *table, p preparedCreate) *object {
	o := s.st.create(tb, p.props)
	for _, a := range p.assocs {
		s.st.associate(a.typ, o, a.target)
	}
	return o
}

// batchCreate is all-or-nothing unless every input carries a distinct
// objectWriteTraceId; then bad inputs are reported in a 207 and the rest
// are created (HubSpot's error-handling guide, "multi-status").
func (s *Server) batchCreate(r *http.Request) result {
	started := s.now()
	var req batchCreateRequest
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxBatchInputs); e != nil {
		return fail(e)
	}
	partial := true
	traces := map[string]bool{}
	for _, in := range req.Inputs {
		if in.ObjectWriteTraceID == "" {
			partial = false
			break
		}
		if traces[in.ObjectWriteTraceID] {
			return fail(badRequest("Duplicate objectWriteTraceId found in batch input: %s", in.ObjectWriteTraceID))
		}
		traces[in.ObjectWriteTraceID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	seen := map[string]map[string]bool{}
	good := make([]preparedCreate, 0, len(req.Inputs))
	var errs []apiError
	for _, in := range req.Inputs {
		p, e := s.prepareCreate(tb, in, seen)
		if e != nil {
			if !partial {
				return fail(e)
			}
			if e.Context == nil {
				e.Context = map[string][]string{}
			}
			e.Context["objectWriteTraceId"] = []string{in.ObjectWriteTraceID}
			e.httpStatus = 0
			errs = append(errs, *e)
			continue
		}
		good = append(good, p)
	}
	results := make([]publicObject, 0, len(good))
	for _, p := range good {
		o := s.createPrepared(tb, p)
		po := tb.render(o, nil, true, nil)
		po.TraceID = p.trace
		results = append(results, po)
	}
	return s.commit(s.batchAnswer(started, http.StatusCreated, results, errs))
}

func (s *Server) batchBody(started time.Time, results any, errs []apiError) batchResponse {
	return batchResponse{Status: "COMPLETE", Results: results, NumErrors: len(errs), Errors: errs,
		StartedAt: formatTime(started), CompletedAt: formatTime(s.now())}
}

// batchAnswer answers a batch with status ok, or with 207 Multi-Status
// when some inputs failed (errs).
func (s *Server) batchAnswer(started time.Time, ok int, results any, errs []apiError) result {
	status := ok
	if len(errs) > 0 {
		status = http.StatusMultiStatus
	}
	return respond(status, s.batchBody(started, results, errs))
}

// notFoundErrs is the errors of a batch that did not find ids: none, or
// the one error a 207 carries for all of them.
func notFoundErrs(tb *table, ids []string) []apiError {
	if len(ids) == 0 {
		return nil
	}
	return []apiError{{Status: "error", Category: "OBJECT_NOT_FOUND",
		Message: fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", strings.ToUpper(tb.typ.singular)),
		Context: map[string][]string{"ids": ids}}}
}

// lookup resolves an input id, by record id or by a unique idProperty.
func (tb *table) lookup(id, idProperty string, archived bool) *object {
	if idProperty == "" || idProperty == "hs_object_id" {
		return tb.get(id, archived)
	}
	if archived {
		return nil
	}
	return tb.byUnique(idProperty, id)
}

func (tb *table) checkIDProperty(idProperty string) *apiError {
	if idProperty == "" || idProperty == "hs_object_id" {
		return nil
	}
	p := tb.props[idProperty]
	if p == nil {
		return badRequest("Property \"%s\" does not exist", idProperty)
	}
	if tb.unique[idProperty] == nil {
		// Real body (segmentio/action-destinations#3957).
		return badRequest("Unable to perform update/upsert by non-unique %s property %s in portal ID %d", tb.typ.typeID, idProperty, portalID)
	}
	return nil
}

func (s *Server) batchRead(r *http.Request) result {
	started := s.now()
	var req batchReadRequest
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxBatchInputs); e != nil {
		return fail(e)
	}
	archived := archivedParam(r)
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	if e := tb.checkIDProperty(req.IDProperty); e != nil {
		return fail(e)
	}
	want := req.Properties
	if len(want) == 0 {
		want = nil
	}
	results := make([]publicObject, 0, len(req.Inputs))
	var missing []string
	done := map[uint64]bool{}
	for _, in := range req.Inputs {
		o := tb.lookup(in.ID.s, req.IDProperty, archived)
		if o == nil {
			missing = append(missing, in.ID.s)
			continue
		}
		if done[o.id] {
			continue
		}
		done[o.id] = true
		results = append(results, tb.render(o, want, false, nil))
	}
	return s.batchAnswer(started, http.StatusOK, results, notFoundErrs(tb, missing))
}

func (s *Server) batchUpdate(r *http.Request) result {
	started := s.now()
	var req batchUpdateRequest
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxBatchInputs); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	type prepared struct {
		o       *object
		changes map[string]string
		trace   string
	}
	var todo []prepared
	var missing []string
	ids := map[string]bool{}
	var dups []string
	for _, in := range req.Inputs {
		if ids[in.ID.s] {
			dups = append(dups, in.ID.s)
		}
		ids[in.ID.s] = true
	}
	if len(dups) > 0 {
		return fail(badRequest("Duplicate IDs found in batch input: %v. IDs must be unique", dups))
	}
	seen := map[string]map[string]bool{}
	for _, in := range req.Inputs {
		if e := tb.checkIDProperty(in.IDProperty); e != nil {
			return fail(e)
		}
		o := tb.lookup(in.ID.s, in.IDProperty, false)
		if o == nil {
			missing = append(missing, in.ID.s)
			continue
		}
		changes, e := s.prepareUpdate(tb, o, in.Properties, seen)
		if e != nil {
			return fail(e)
		}
		todo = append(todo, prepared{o: o, changes: changes, trace: in.ObjectWriteTraceID})
	}
	results := make([]publicObject, 0, len(todo))
	for _, p := range todo {
		s.st.update(tb, p.o, p.changes)
		po := tb.render(p.o, nil, true, nil)
		po.TraceID = p.trace
		results = append(results, po)
	}
	return s.commit(s.batchAnswer(started, http.StatusOK, results, notFoundErrs(tb, missing)))
}

// batchUpsert creates or updates by the value of a unique property.
func (s *Server) batchUpsert(r *http.Request) result {
	started := s.now()
	var req batchUpdateRequest
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxBatchInputs); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	type prepared struct {
		o      *object // nil: create
		create preparedCreate
		change map[string]string
		trace  string
	}
	var todo []prepared
	seen := map[string]map[string]bool{}
	for _, in := range req.Inputs {
		if in.IDProperty == "" || in.IDProperty == "hs_object_id" {
			return fail(badRequest("Unable to perform update/upsert by non-unique %s property hs_object_id in portal ID %d", tb.typ.typeID, portalID))
		}
		if e := tb.checkIDProperty(in.IDProperty); e != nil {
			return fail(e)
		}
		if o := tb.byUnique(in.IDProperty, in.ID.s); o != nil {
			changes, probs := tb.validateWrite(in.Properties, false)
			if len(probs) > 0 {
				return fail(propertyError(probs))
			}
			delete(changes, in.IDProperty)
			if e := tb.uniqueConflict(o.id, changes, seen); e != nil {
				return fail(e)
			}
			todo = append(todo, prepared{o: o, change: changes, trace: in.ObjectWriteTraceID})
			continue
		}
		props := maps.Clone(in.Properties)
		if props == nil {
			props = map[string]flexString{}
		}
		props[in.IDProperty] = in.ID
		p, e := s.prepareCreate(tb, createInput{Properties: props}, seen)
		if e != nil {
			return fail(e)
		}
		todo = append(todo, prepared{create: p, trace: in.ObjectWriteTraceID})
	}
	results := make([]publicObject, 0, len(todo))
	for _, p := range todo {
		isNew := p.o == nil
		o := p.o
		if isNew {
			o = s.createPrepared(tb, p.create)
		} else {
			s.st.update(tb, o, p.change)
		}
		po := tb.render(o, nil, true, nil)
		po.New = &isNew
		po.TraceID = p.trace
		results = append(results, po)
	}
	return s.commit(respond(http.StatusOK, s.batchBody(started, results, nil)))
}

// batchArchive answers 204 also for ids that do not exist (the spec
// declares only 204).
func (s *Server) batchArchive(r *http.Request) result {
	var req batchArchiveRequest
	if e := decode(r, &req); e != nil {
		return fail(e)
	}
	if e := checkInputs(len(req.Inputs), maxBatchInputs); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	for _, in := range req.Inputs {
		if o := tb.get(in.ID.s, false); o != nil {
			s.st.archive(tb, o)
		}
	}
	return s.commit(respond(http.StatusNoContent, nil))
}

func (s *Server) getOne(r *http.Request) result {
	q := r.URL.Query()
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	idProp := q.Get("idProperty")
	if e := tb.checkIDProperty(idProp); e != nil {
		return fail(e)
	}
	o := tb.lookup(r.PathValue("id"), idProp, archivedParam(r))
	if o == nil {
		return fail(notFound(r.PathValue("id")))
	}
	return respond(http.StatusOK, tb.render(o, listParam(q["properties"]), false, listParam(q["associations"])))
}

func (s *Server) updateOne(r *http.Request) result {
	var in struct {
		Properties map[string]flexString `json:"properties"`
	}
	if e := decode(r, &in); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	idProp := r.URL.Query().Get("idProperty")
	if e := tb.checkIDProperty(idProp); e != nil {
		return fail(e)
	}
	o := tb.lookup(r.PathValue("id"), idProp, false)
	if o == nil {
		return fail(notFound(r.PathValue("id")))
	}
	changes, e := s.prepareUpdate(tb, o, in.Properties, nil)
	if e != nil {
		return fail(e)
	}
	s.st.update(tb, o, changes)
	return s.commit(respond(http.StatusOK, tb.render(o, nil, true, nil)))
}

func (s *Server) archiveOne(r *http.Request) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	if o := tb.get(r.PathValue("id"), false); o != nil {
		s.st.archive(tb, o)
	}
	return s.commit(respond(http.StatusNoContent, nil))
}

// list pages in id order with an opaque cursor (base64 of the last id
// returned, as HubSpot's look: "NTI1Cg%3D%3D").
func (s *Server) list(r *http.Request) result {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return fail(badRequest("limit must be between 1 and %d, got %q", maxListLimit, v))
		}
		limit = n
	}
	var after uint64
	if v := q.Get("after"); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		n, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || perr != nil {
			return fail(badRequest("Invalid paging cursor after=%q", v))
		}
		after = n
	}
	archived := archivedParam(r)
	want := listParam(q["properties"])
	assoc := listParam(q["associations"])
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb, e := s.tableFor(r, "type")
	if e != nil {
		return fail(e)
	}
	i := sort.Search(len(tb.order), func(i int) bool { return tb.order[i] > after })
	res := collectionResponse{Results: make([]publicObject, 0, limit)}
	var last uint64
	for ; i < len(tb.order); i++ {
		o := tb.byID[tb.order[i]]
		if o.archived != archived {
			continue
		}
		if len(res.Results) == limit {
			cur := base64.StdEncoding.EncodeToString([]byte(idString(last)))
			res.Paging = &paging{Next: nextPage{After: cur, Link: "?after=" + url.QueryEscape(cur)}}
			break
		}
		res.Results = append(res.Results, tb.render(o, want, false, assoc))
		last = o.id
	}
	return respond(http.StatusOK, res)
}
