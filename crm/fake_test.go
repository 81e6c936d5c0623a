package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose Sleep returns at once after moving time on.
// The fake server reads the same clock, so pacing is checked exactly and
// without waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

func (c *fakeClock) elapsed(since time.Time) time.Duration { return c.Now().Sub(since) }

// fakeHub is a small HubSpot stand-in: real paths, real wire shapes,
// X-HubSpot-RateLimit-* headers, a rolling ten-second window enforced on the
// fake clock, a daily quota, 207s keyed by objectWriteTraceId, and hooks to
// inject failures. Objects of every type live in one store.
type fakeHub struct {
	t     testing.TB
	clock *fakeClock
	srv   *httptest.Server

	mu          sync.Mutex
	windowMax   int
	window      time.Duration
	log         []time.Time // receive times of counted requests
	dailyLimit  int64
	dailyLeft   int64
	objects     map[string]map[string]*Object // type → id → object
	order       map[string][]string           // type → ids in creation order
	nextID      int
	assocs      map[string]bool // "from/fromID/to/toID/type"
	props       []Property
	owners      []Owner
	requests    []string // "METHOD path?query body"
	count429    int
	searchTimes []time.Time
	echoTrace   bool // echo objectWriteTraceId in batch results
	// hook runs first; returning true means it answered the request.
	hook func(w http.ResponseWriter, r *http.Request, body []byte) bool
}

func newFakeHub(t testing.TB) *fakeHub {
	h := &fakeHub{
		t:          t,
		clock:      newFakeClock(),
		windowMax:  190,
		window:     10 * time.Second,
		dailyLimit: 650000,
		dailyLeft:  650000,
		objects:    map[string]map[string]*Object{},
		order:      map[string][]string{},
		nextID:     1000,
		assocs:     map[string]bool{},
		echoTrace:  true,
		props: []Property{
			{Name: "hs_communication_body", Label: "Body", Type: "string", FieldType: "textarea", GroupName: "communication_information", HubspotDefined: true},
			{Name: "hs_timestamp", Label: "Timestamp", Type: "datetime", FieldType: "date", GroupName: "communication_information", HubspotDefined: true},
		},
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHub) client(t testing.TB, mod func(*Options)) *Client {
	o := Options{BaseURL: h.srv.URL, Token: "pat-test-secret", Clock: h.clock, UserAgent: "commlog/test"}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func hubError(w http.ResponseWriter, status int, category, msg string) {
	writeJSON(w, status, map[string]any{"status": "error", "message": msg, "correlationId": "c0ffee00-0000-4000-8000-000000000000", "category": category})
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests = append(h.requests, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
	hook := h.hook
	h.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer pat-test-secret" {
		hubError(w, 401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), "commlog/") {
		hubError(w, 400, "VALIDATION_ERROR", "missing User-Agent")
		return
	}
	if hook != nil && hook(w, r, body) {
		return
	}
	search := strings.HasSuffix(r.URL.Path, "/search")
	if !h.admit(w, search) {
		return
	}
	h.route(w, r, body)
}

// admit enforces the limits and writes the rate-limit headers.
func (h *fakeHub) admit(w http.ResponseWriter, search bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock.Now()
	if h.dailyLeft <= 0 {
		h.count429++
		writeJSON(w, 429, map[string]any{"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT", "policyName": "DAILY"})
		return false
	}
	if search {
		// 5 per second, no headers.
		cut := now.Add(-time.Second)
		kept := h.searchTimes[:0]
		for _, t := range h.searchTimes {
			if t.After(cut) {
				kept = append(kept, t)
			}
		}
		h.searchTimes = kept
		if len(kept) >= 5 {
			h.count429++
			writeJSON(w, 429, map[string]any{"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT", "policyName": "SECONDLY"})
			return false
		}
		h.searchTimes = append(h.searchTimes, now)
		h.dailyLeft--
		return true
	}
	cut := now.Add(-h.window)
	kept := h.log[:0]
	for _, t := range h.log {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	h.log = kept
	hd := w.Header()
	hd.Set(hdrMax, strconv.Itoa(h.windowMax))
	hd.Set(hdrInterval, strconv.Itoa(int(h.window/time.Millisecond)))
	hd.Set(hdrDaily, strconv.FormatInt(h.dailyLimit, 10))
	if len(h.log) >= h.windowMax {
		h.count429++
		hd.Set(hdrRemaining, "0")
		hd.Set(hdrDailyRemaining, strconv.FormatInt(h.dailyLeft, 10))
		writeJSON(w, 429, map[string]any{"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING", "correlationId": "c0ffee00-0000-4000-8000-000000000429"})
		return false
	}
	h.log = append(h.log, now)
	h.dailyLeft--
	hd.Set(hdrRemaining, strconv.Itoa(h.windowMax-len(h.log)))
	hd.Set(hdrDailyRemaining, strconv.FormatInt(h.dailyLeft, 10))
	return true
}

func (h *fakeHub) route(w http.ResponseWriter, r *http.Request, body []byte) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case len(seg) >= 4 && seg[0] == "crm" && seg[1] == "v3" && seg[2] == "objects":
		h.objectsRoute(w, r, seg[3], seg[4:], body)
	case len(seg) == 7 && seg[1] == "v4" && seg[2] == "associations" && seg[5] == "batch":
		h.v4(w, seg[3], seg[4], seg[6], body)
	case len(seg) == 8 && seg[1] == "v4" && seg[5] == "batch" && seg[6] == "labels" && seg[7] == "archive":
		h.v4(w, seg[3], seg[4], "labels/archive", body)
	case len(seg) == 4 && seg[2] == "properties":
		h.properties(w, r, body)
	case len(seg) == 3 && seg[2] == "owners":
		h.ownersPage(w, r)
	default:
		hubError(w, 404, "OBJECT_NOT_FOUND", "resource not found")
	}
}

func (h *fakeHub) store(typ string) map[string]*Object {
	if h.objects[typ] == nil {
		h.objects[typ] = map[string]*Object{}
	}
	return h.objects[typ]
}

// create validates like HubSpot on create: unknown-ish properties are
// rejected (here: any property named "bad").
func (h *fakeHub) create(typ string, in CreateInput) (*Object, *StandardError) {
	if _, bad := in.Properties["bad"]; bad {
		return nil, &StandardError{Status: "error", Category: "VALIDATION_ERROR", Message: `Property "bad" does not exist`,
			Context: map[string][]string{"objectWriteTraceId": {in.ObjectWriteTraceID}},
			Errors:  []ErrorDetail{{Message: `Property "bad" does not exist`, Code: "PROPERTY_DOESNT_EXIST", Context: map[string][]string{"propertyName": {"bad"}}}}}
	}
	h.nextID++
	id := strconv.Itoa(h.nextID)
	now := h.clock.Now()
	props := map[string]string{"hs_object_id": id}
	for k, v := range in.Properties {
		props[k] = v
	}
	o := &Object{ID: id, Properties: props, CreatedAt: now, UpdatedAt: now}
	h.store(typ)[id] = o
	h.order[typ] = append(h.order[typ], id)
	for _, a := range in.Associations {
		for _, t := range a.Types {
			h.assocs[fmt.Sprintf("%s/%s/%s/%d", typ, id, a.To.ID, t.TypeID)] = true
		}
	}
	return o, nil
}

func (h *fakeHub) view(o *Object, traceID string) Object {
	c := *o
	c.Properties = map[string]string{}
	for k, v := range o.Properties {
		c.Properties[k] = v
	}
	if h.echoTrace {
		c.ObjectWriteTraceID = traceID
	}
	return c
}

func (h *fakeHub) objectsRoute(w http.ResponseWriter, r *http.Request, typ string, rest []string, body []byte) {
	st := h.store(typ)
	now := h.clock.Now()
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost:
		var in CreateInput
		if json.Unmarshal(body, &in) != nil {
			hubError(w, 400, "VALIDATION_ERROR", "Invalid input JSON")
			return
		}
		o, e := h.create(typ, in)
		if e != nil {
			writeJSON(w, 400, e)
			return
		}
		writeJSON(w, 201, o)
	case len(rest) == 0 && r.Method == http.MethodGet:
		ids := h.order[typ]
		start, _ := strconv.Atoi(r.URL.Query().Get("after"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit == 0 {
			limit = 10
		}
		var p Page
		for i := start; i < len(ids) && len(p.Results) < limit; i++ {
			if o := st[ids[i]]; o != nil && !o.Archived {
				p.Results = append(p.Results, h.view(o, ""))
			}
			if len(p.Results) == limit && i+1 < len(ids) {
				p.After = strconv.Itoa(i + 1)
			}
		}
		writeJSON(w, 200, p)
	case len(rest) == 1 && rest[0] == "search":
		h.search(w, typ, body)
	case len(rest) == 1 && rest[0] != "batch":
		o := st[rest[0]]
		if o == nil || o.Archived {
			w.WriteHeader(404) // HubSpot often sends no body here
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, 200, h.view(o, ""))
		case http.MethodPatch:
			var in struct{ Properties map[string]string }
			_ = json.Unmarshal(body, &in)
			for k, v := range in.Properties {
				o.Properties[k] = v
			}
			o.UpdatedAt = now
			writeJSON(w, 200, h.view(o, ""))
		case http.MethodDelete:
			o.Archived = true
			w.WriteHeader(204)
		}
	case len(rest) == 5 && rest[1] == "associations":
		typeID := rest[4]
		if labelIDs[typeID] != "" {
			typeID = labelIDs[typeID] // the v3 path takes a number or a snake-case label
		}
		key := fmt.Sprintf("%s/%s/%s/%s", typ, rest[0], rest[3], typeID)
		if r.Method == http.MethodPut {
			h.assocs[key] = true
			writeJSON(w, 200, map[string]any{"id": rest[0]})
		} else {
			delete(h.assocs, key)
			w.WriteHeader(204)
		}
	case len(rest) == 2 && rest[0] == "batch":
		h.batch(w, r, typ, rest[1], body)
	default:
		hubError(w, 404, "OBJECT_NOT_FOUND", "resource not found")
	}
}

var labelIDs = map[string]string{"communication_to_contact": "81", "communication_to_company": "87", "communication_to_deal": "85", "communication_to_ticket": "83"}

func (h *fakeHub) batch(w http.ResponseWriter, r *http.Request, typ, op string, body []byte) {
	st := h.store(typ)
	res := BatchResult{Status: "COMPLETE", Results: []Object{}, StartedAt: h.clock.Now(), CompletedAt: h.clock.Now()}
	switch op {
	case "create":
		var in batchInputs[CreateInput]
		_ = json.Unmarshal(body, &in)
		traced := true
		for _, i := range in.Inputs {
			if i.ObjectWriteTraceID == "" {
				traced = false
			}
			if _, bad := i.Properties["bad"]; bad && !traced {
				hubError(w, 400, "VALIDATION_ERROR", `Property values were not valid: [{"isValid":false,"message":"Property \"bad\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"bad"}]`)
				return
			}
		}
		// Reverse order on purpose: results are not in input order.
		for k := len(in.Inputs) - 1; k >= 0; k-- {
			o, e := h.create(typ, in.Inputs[k])
			if e != nil {
				res.Errors = append(res.Errors, *e)
				continue
			}
			res.Results = append(res.Results, h.view(o, in.Inputs[k].ObjectWriteTraceID))
		}
	case "read":
		var in BatchReadInput
		_ = json.Unmarshal(body, &in)
		var missing []string
		for _, i := range in.Inputs {
			o := h.find(st, i.ID, in.IDProperty)
			if o == nil || o.Archived != (r.URL.Query().Get("archived") == "true") {
				missing = append(missing, i.ID)
				continue
			}
			res.Results = append(res.Results, h.view(o, ""))
		}
		if len(missing) > 0 {
			res.Errors = append(res.Errors, StandardError{Status: "error", Category: "OBJECT_NOT_FOUND", Message: "Could not get some COMMUNICATION objects, they may be deleted or not exist. Check that ids are valid.", Context: map[string][]string{"ids": missing}})
		}
	case "update", "upsert":
		var in batchInputs[UpdateInput]
		_ = json.Unmarshal(body, &in)
		var missing []string
		for _, i := range in.Inputs {
			o := h.find(st, i.ID, i.IDProperty)
			created := false
			if o == nil && op == "upsert" {
				props := map[string]string{i.IDProperty: i.ID}
				o, _ = h.create(typ, CreateInput{Properties: props})
				created = true
			}
			if o == nil {
				missing = append(missing, i.ID)
				continue
			}
			for k, v := range i.Properties {
				o.Properties[k] = v
			}
			v := h.view(o, i.ObjectWriteTraceID)
			if op == "upsert" {
				v.New = &created
			}
			res.Results = append(res.Results, v)
		}
		if len(missing) > 0 {
			res.Errors = append(res.Errors, StandardError{Status: "error", Category: "OBJECT_NOT_FOUND", Message: "Could not get some COMMUNICATION objects, they may be deleted or not exist. Check that ids are valid.", Context: map[string][]string{"ids": missing}})
		}
	case "archive":
		var in batchInputs[ObjectID]
		_ = json.Unmarshal(body, &in)
		for _, i := range in.Inputs {
			if o := st[i.ID]; o != nil {
				o.Archived = true
			}
		}
		w.WriteHeader(204)
		return
	}
	res.NumErrors = len(res.Errors)
	status := 200
	if op == "create" {
		status = 201
	}
	if res.NumErrors > 0 {
		status = 207
	}
	writeJSON(w, status, res)
}

func (h *fakeHub) find(st map[string]*Object, id, idProperty string) *Object {
	if idProperty == "" {
		return st[id]
	}
	for _, o := range st {
		if o.Properties[idProperty] == id {
			return o
		}
	}
	return nil
}

// search supports EQ, GTE and IN filters on string values (numbers compare
// numerically), one sort, numeric offsets in after, and the 10,000 cap.
func (h *fakeHub) search(w http.ResponseWriter, typ string, body []byte) {
	var req SearchRequest
	if json.Unmarshal(body, &req) != nil {
		hubError(w, 400, "VALIDATION_ERROR", "Invalid input JSON")
		return
	}
	off, _ := strconv.Atoi(req.After)
	limit := req.Limit
	if limit == 0 {
		limit = 10
	}
	if off+limit > searchCap {
		hubError(w, 400, "VALIDATION_ERROR", "Paging beyond 10000 results is not supported")
		return
	}
	var hits []*Object
	for _, id := range h.order[typ] {
		o := h.store(typ)[id]
		if !o.Archived && matches(o, req.FilterGroups) {
			hits = append(hits, o)
		}
	}
	if len(req.Sorts) > 0 {
		p := req.Sorts[0].PropertyName
		sort.SliceStable(hits, func(i, j int) bool { return less(hits[i].Properties[p], hits[j].Properties[p]) })
	}
	res := SearchResult{Total: len(hits), Results: []Object{}}
	for i := off; i < len(hits) && i < off+limit; i++ {
		res.Results = append(res.Results, h.view(hits[i], ""))
	}
	if off+limit < len(hits) {
		res.After = strconv.Itoa(off + limit)
	}
	writeJSON(w, 200, res)
}

func less(a, b string) bool {
	x, e1 := strconv.ParseInt(a, 10, 64)
	y, e2 := strconv.ParseInt(b, 10, 64)
	if e1 == nil && e2 == nil {
		return x < y
	}
	return a < b
}

func matches(o *Object, groups []FilterGroup) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		ok := true
		for _, f := range g.Filters {
			v := o.Properties[f.PropertyName]
			switch f.Operator {
			case "EQ":
				ok = ok && v == f.Value
			case "GTE":
				ok = ok && !less(v, f.Value)
			case "IN":
				ok = ok && contains(f.Values, v)
			default:
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (h *fakeHub) v4(w http.ResponseWriter, from, to, op string, body []byte) {
	switch op {
	case "create":
		var in batchInputs[v4Pair]
		_ = json.Unmarshal(body, &in)
		res := AssociationBatchResult{Status: "COMPLETE", Results: []AssociationLabels{}}
		for _, p := range in.Inputs {
			for _, t := range p.Types {
				h.assocs[fmt.Sprintf("%s/%s/%s/%d", from, p.From.ID, p.To.ID, t.TypeID)] = true
			}
			res.Results = append(res.Results, AssociationLabels{FromObjectTypeID: "0-18", FromObjectID: p.From.ID, ToObjectTypeID: "0-1", ToObjectID: p.To.ID, Labels: []string{}})
		}
		writeJSON(w, 201, res)
	case "archive":
		var in batchInputs[v4Multi]
		_ = json.Unmarshal(body, &in)
		for _, m := range in.Inputs {
			for _, t := range m.To {
				prefix := fmt.Sprintf("%s/%s/%s/", from, m.From.ID, t.ID)
				for k := range h.assocs {
					if strings.HasPrefix(k, prefix) {
						delete(h.assocs, k)
					}
				}
			}
		}
		w.WriteHeader(204)
	case "read":
		h.v4Read(w, from, to, body)
	case "labels/archive":
		var in batchInputs[v4Pair]
		_ = json.Unmarshal(body, &in)
		for _, p := range in.Inputs {
			for _, t := range p.Types {
				delete(h.assocs, fmt.Sprintf("%s/%s/%s/%d", from, p.From.ID, p.To.ID, t.TypeID))
			}
		}
		w.WriteHeader(204)
	}
}

// assocPage is how many associated records the fake's v4 batch/read
// returns per record before paging (small, so that paging is exercised).
const assocPage = 2

// v4Read answers v4 batch/read like HubSpot: one result per record with
// associations (toObjectId as a number), paging.next.after per record, and
// a NO_ASSOCIATIONS_FOUND error (207) per record without any. A type id
// that is no default type counts as a label between any two types.
func (h *fakeHub) v4Read(w http.ResponseWriter, from, to string, body []byte) {
	var in batchInputs[v4ReadInput]
	_ = json.Unmarshal(body, &in)
	def, _ := DefaultAssociationTypeID(from, to)
	type assocType struct {
		Category string  `json:"category"`
		TypeID   int     `json:"typeId"`
		Label    *string `json:"label"`
	}
	type toEntry struct {
		ToObjectID       int64       `json:"toObjectId"`
		AssociationTypes []assocType `json:"associationTypes"`
	}
	type result struct {
		From   ObjectID  `json:"from"`
		To     []toEntry `json:"to"`
		Paging *Paging   `json:"paging,omitempty"`
	}
	res := struct {
		Status    string          `json:"status"`
		Results   []result        `json:"results"`
		NumErrors int             `json:"numErrors,omitempty"`
		Errors    []StandardError `json:"errors,omitempty"`
	}{Status: "COMPLETE", Results: []result{}}
	for _, q := range in.Inputs {
		types := map[int64][]assocType{}
		var toIDs []int64
		for k := range h.assocs {
			f := strings.Split(k, "/")
			if f[0] != from || f[1] != q.ID {
				continue
			}
			typeID, _ := strconv.Atoi(f[3])
			cat := HubSpotDefined
			if typeID != def {
				if _, known := labelIDsByID[typeID]; known {
					continue // a default type to another object type
				}
				cat = UserDefined
			}
			toID, _ := strconv.ParseInt(f[2], 10, 64)
			if types[toID] == nil {
				toIDs = append(toIDs, toID)
			}
			types[toID] = append(types[toID], assocType{Category: cat, TypeID: typeID})
		}
		if len(toIDs) == 0 {
			res.Errors = append(res.Errors, StandardError{Status: "error", Category: "OBJECT_NOT_FOUND", SubCategory: NoAssociationsFound,
				Message: fmt.Sprintf("No %s is associated with %s %s.", to, from, q.ID), Context: map[string][]string{"fromObjectId": {q.ID}}})
			continue
		}
		slices.Sort(toIDs)
		off, _ := strconv.Atoi(q.After)
		end := min(off+assocPage, len(toIDs))
		r := result{From: ObjectID{q.ID}}
		for _, id := range toIDs[off:end] {
			ts := types[id]
			slices.SortFunc(ts, func(a, b assocType) int { return a.TypeID - b.TypeID })
			r.To = append(r.To, toEntry{ToObjectID: id, AssociationTypes: ts})
		}
		if end < len(toIDs) {
			r.Paging = &Paging{Next: &NextPage{After: strconv.Itoa(end)}}
		}
		res.Results = append(res.Results, r)
	}
	status := 200
	if len(res.Errors) > 0 {
		res.NumErrors = len(res.Errors)
		status = 207
	}
	writeJSON(w, status, res)
}

// labelIDsByID are the default communication type ids.
var labelIDsByID = map[int]bool{81: true, 82: true, 83: true, 84: true, 85: true, 86: true, 87: true, 88: true}

func (h *fakeHub) properties(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method == http.MethodGet {
		writeJSON(w, 200, map[string]any{"results": h.props})
		return
	}
	var p PropertyCreate
	_ = json.Unmarshal(body, &p)
	for _, q := range h.props {
		if q.Name == p.Name {
			hubError(w, 409, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("A property named '%s' already exists.", p.Name))
			return
		}
	}
	np := Property{Name: p.Name, Label: p.Label, Type: p.Type, FieldType: p.FieldType, GroupName: p.GroupName, Description: p.Description}
	h.props = append(h.props, np)
	writeJSON(w, 201, np)
}

func (h *fakeHub) ownersPage(w http.ResponseWriter, r *http.Request) {
	const size = 2 // small pages so paging is exercised
	off, _ := strconv.Atoi(r.URL.Query().Get("after"))
	end := min(off+size, len(h.owners))
	out := map[string]any{"results": h.owners[off:end]}
	if end < len(h.owners) {
		out["paging"] = Paging{Next: &NextPage{After: strconv.Itoa(end)}}
	}
	writeJSON(w, 200, out)
}

func (h *fakeHub) setHook(f func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hook = f
}

func (h *fakeHub) requestLog() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.requests...)
}

func (h *fakeHub) count(typ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.order[typ])
}
