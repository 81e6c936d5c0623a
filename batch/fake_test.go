package batch

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/commlog/commlog/crm"
)

// memAPI is an in-memory stand-in for HubSpot for the cases the sandbox
// cannot produce on demand (a whole batch rejected with 400). Inputs whose
// body is in reject make HubSpot refuse every batch that contains them.
type memAPI struct {
	mu       sync.Mutex
	reject   map[string]bool
	records  map[string]string // id → commlog_key
	nextID   int
	batches  [][]string // bodies of every batch request, in order
	requests int64
}

func newMemAPI(rejectBodies ...string) *memAPI {
	m := &memAPI{reject: map[string]bool{}, records: map[string]string{}, nextID: 1000}
	for _, b := range rejectBodies {
		m.reject[b] = true
	}
	return m
}

func (m *memAPI) BatchCreate(ctx context.Context, _ string, inputs []crm.CreateInput) (*crm.BatchResult, error) {
	if err := crm.CallBeforeSend(ctx, 0); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	bodies := make([]string, len(inputs))
	for i, in := range inputs {
		bodies[i] = in.Properties["hs_communication_body"]
	}
	m.batches = append(m.batches, bodies)
	for _, b := range bodies {
		if m.reject[b] {
			return nil, &crm.Error{StatusCode: 400, Method: "POST", Path: "/crm/v3/objects/communications/batch/create",
				Category: "VALIDATION_ERROR", Message: "Property values were not valid", BatchWrite: true}
		}
	}
	res := &crm.BatchResult{Status: "COMPLETE"}
	for _, in := range inputs {
		m.nextID++
		id := strconv.Itoa(m.nextID)
		m.records[id] = in.Properties[KeyProperty]
		res.Results = append(res.Results, crm.Object{ID: id, Properties: in.Properties, ObjectWriteTraceID: in.ObjectWriteTraceID})
	}
	return res, nil
}

func (m *memAPI) Search(_ context.Context, _ string, req crm.SearchRequest) (*crm.SearchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	want := req.FilterGroups[0].Filters[0].Values
	res := &crm.SearchResult{}
	for id, k := range m.records {
		if slices.Contains(want, k) {
			res.Results = append(res.Results, crm.Object{ID: id, Properties: map[string]string{KeyProperty: k}})
		}
	}
	res.Total = len(res.Results)
	return res, nil
}

func (m *memAPI) List(context.Context, string, crm.ListOptions) (*crm.Page, error) {
	return &crm.Page{}, nil
}

func (m *memAPI) Properties(context.Context, string) ([]crm.Property, error) { return nil, nil }
func (m *memAPI) Owners(context.Context) ([]crm.Owner, error)                { return nil, nil }
func (m *memAPI) EnsureKeyProperty(context.Context) error                    { return nil }
func (m *memAPI) Budget() crm.Budget                                         { return crm.Budget{} }
func (m *memAPI) Stats() crm.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return crm.Stats{Requests: m.requests}
}

func (m *memAPI) String() string { return fmt.Sprintf("memAPI{%d records}", len(m.records)) }
