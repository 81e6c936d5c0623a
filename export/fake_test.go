package export

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/commlog/commlog/crm"
)

// fakeAPI is an in-memory HubSpot for the walk's edge cases that the
// sandbox cannot produce on demand: a small search cap, ties ordered by
// something other than id, records changing between two pages, answers
// out of order. It follows HubSpot's documented search semantics: one
// sort, offset paging, a hard cap on offsets, total on every page.
type fakeAPI struct {
	mu    sync.Mutex
	objs  map[string]*fakeObj
	defs  []crm.Property
	cap   int
	calls int
	// beforeSearch runs (without the lock) before each search answer; tests
	// use it to change records mid-walk.
	beforeSearch func(n int)
	// mangle, when set, may rewrite a search answer.
	mangle func(res *crm.SearchResult)
	failAt int // fail the n-th call (1-based) with a 500; 0 = never
}

type fakeObj struct {
	id         string
	props      map[string]string
	modified   int64
	archived   bool
	archivedAt int64
	assoc      map[string][]string
}

func newFake() *fakeAPI {
	return &fakeAPI{objs: map[string]*fakeObj{}, cap: searchCap, defs: []crm.Property{
		{Name: "hs_object_id", Type: "number"},
		{Name: "hs_createdate", Type: "datetime"},
		{Name: "hs_lastmodifieddate", Type: "datetime"},
		{Name: "hs_timestamp", Type: "datetime"},
		{Name: "hs_communication_body", Type: "string"},
		{Name: "hs_communication_channel_type", Type: "enumeration"},
	}}
}

func (f *fakeAPI) put(id string, modified int64, props map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.objs[id]
	if o == nil {
		o = &fakeObj{id: id, props: map[string]string{}}
		f.objs[id] = o
	}
	for k, v := range props {
		o.props[k] = v
	}
	o.modified = modified
}

func (f *fakeAPI) archive(id string, at int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.objs[id]; o != nil {
		o.archived, o.archivedAt, o.modified = true, at, at
	}
}

func (f *fakeAPI) call() error {
	f.calls++
	if f.failAt > 0 && f.calls == f.failAt {
		return &crm.Error{StatusCode: http.StatusInternalServerError, Method: "POST", Path: "/fake", Message: "injected"}
	}
	return nil
}

func (f *fakeAPI) Properties(ctx context.Context, objectType string) ([]crm.Property, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(); err != nil {
		return nil, err
	}
	return append([]crm.Property(nil), f.defs...), nil
}

func (f *fakeAPI) object(o *fakeObj, props, assocs []string) crm.Object {
	out := crm.Object{ID: o.id, Properties: map[string]string{}, Archived: o.archived,
		UpdatedAt: time.UnixMilli(o.modified).UTC()}
	for _, p := range props {
		switch p {
		case propID:
			out.Properties[p] = o.id
		case propModified:
			out.Properties[p] = time.UnixMilli(o.modified).UTC().Format(time.RFC3339Nano)
		default:
			out.Properties[p] = o.props[p]
		}
	}
	if o.archived {
		at := time.UnixMilli(o.archivedAt).UTC()
		out.ArchivedAt = &at
	}
	for _, a := range assocs {
		if ids, ok := o.assoc[a]; ok {
			if out.Associations == nil {
				out.Associations = map[string]crm.AssociationList{}
			}
			l := crm.AssociationList{}
			for _, id := range ids {
				l.Results = append(l.Results, crm.AssociatedID{ID: id, Type: "communication_to_x"})
			}
			out.Associations[a] = l
		}
	}
	return out
}

// sorted returns the objects in id order.
func (f *fakeAPI) sorted() []*fakeObj {
	all := make([]*fakeObj, 0, len(f.objs))
	for _, o := range f.objs {
		all = append(all, o)
	}
	sort.Slice(all, func(i, j int) bool { return idLess(all[i].id, all[j].id) })
	return all
}

func (f *fakeAPI) List(ctx context.Context, objectType string, q crm.ListOptions) (*crm.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(); err != nil {
		return nil, err
	}
	start := 0
	if q.After != "" {
		start, _ = strconv.Atoi(q.After)
	}
	var page crm.Page
	all := f.sorted()
	i := 0
	for _, o := range all {
		if o.archived != q.Archived {
			continue
		}
		if i >= start && len(page.Results) < q.Limit {
			page.Results = append(page.Results, f.object(o, q.Properties, q.Associations))
		}
		i++
	}
	if start+q.Limit < i {
		page.After = strconv.Itoa(start + q.Limit)
	}
	return &page, nil
}

// BatchReadAssociations answers like HubSpot's v4 batch read: live
// records only, one entry per association, ids without any left out.
func (f *fakeAPI) BatchReadAssociations(ctx context.Context, fromType, toType string, ids []string) (map[string][]crm.AssociatedID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(); err != nil {
		return nil, err
	}
	out := map[string][]crm.AssociatedID{}
	for _, id := range ids {
		o := f.objs[id]
		if o == nil || o.archived {
			continue
		}
		for _, to := range o.assoc[toType] {
			out[id] = append(out[id], crm.AssociatedID{ID: to, Type: "communication_to_x"})
		}
	}
	return out, nil
}

func (f *fakeAPI) value(o *fakeObj, prop string) int64 {
	if prop == propID {
		n, _ := strconv.ParseInt(o.id, 10, 64)
		return n
	}
	return o.modified
}

// tieKey orders equal sort values by a hash of the id, so that a walk
// that assumed id order would break.
func tieKey(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}

func (f *fakeAPI) Search(ctx context.Context, objectType string, req crm.SearchRequest) (*crm.SearchResult, error) {
	f.mu.Lock()
	n := f.calls + 1
	hook := f.beforeSearch
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(); err != nil {
		return nil, err
	}
	if len(req.Sorts) != 1 {
		return nil, fmt.Errorf("fake: want one sort, got %d", len(req.Sorts))
	}
	offset := 0
	if req.After != "" {
		offset, _ = strconv.Atoi(req.After)
	}
	if offset+req.Limit > f.cap {
		return nil, &crm.Error{StatusCode: http.StatusBadRequest, Method: "POST", Path: "/search", Message: "paging past the cap"}
	}
	var hits []*fakeObj
	for _, o := range f.objs {
		if o.archived {
			continue
		}
		if matchGroups(f, o, req.FilterGroups) {
			hits = append(hits, o)
		}
	}
	sp := req.Sorts[0].PropertyName
	sort.Slice(hits, func(i, j int) bool {
		vi, vj := f.value(hits[i], sp), f.value(hits[j], sp)
		if vi != vj {
			return vi < vj
		}
		return tieKey(hits[i].id) < tieKey(hits[j].id)
	})
	res := &crm.SearchResult{Total: len(hits)}
	for i := offset; i < len(hits) && i < offset+req.Limit; i++ {
		res.Results = append(res.Results, f.object(hits[i], req.Properties, nil))
	}
	if offset+req.Limit < len(hits) {
		res.After = strconv.Itoa(offset + req.Limit)
	}
	if f.mangle != nil {
		f.mangle(res)
	}
	return res, nil
}

func matchGroups(f *fakeAPI, o *fakeObj, groups []crm.FilterGroup) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		all := true
		for _, flt := range g.Filters {
			v := f.value(o, flt.PropertyName)
			want, _ := strconv.ParseInt(flt.Value, 10, 64)
			var ok bool
			switch flt.Operator {
			case "EQ":
				ok = v == want
			case "GT":
				ok = v > want
			case "GTE":
				ok = v >= want
			case "LT":
				ok = v < want
			case "LTE":
				ok = v <= want
			}
			all = all && ok
		}
		if all {
			return true
		}
	}
	return false
}
