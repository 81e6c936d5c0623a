package crm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Create creates one object (POST /crm/v3/objects/{type}). A failure after
// the request may have reached HubSpot is an *InDoubtError.
func (c *Client) Create(ctx context.Context, objectType string, in CreateInput) (*Object, error) {
	var out Object
	err := c.do(ctx, call{method: http.MethodPost, path: objectPath(objectType), body: in, out: &out, create: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Get reads one object by id, or by the unique property q.IDProperty.
func (c *Client) Get(ctx context.Context, objectType, id string, q GetOptions) (*Object, error) {
	v := url.Values{}
	setList(v, "properties", q.Properties)
	setList(v, "associations", q.Associations)
	if q.Archived {
		v.Set("archived", "true")
	}
	if q.IDProperty != "" {
		v.Set("idProperty", q.IDProperty)
	}
	var out Object
	if err := c.do(ctx, call{method: http.MethodGet, path: objectPath(objectType, id), query: v, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads one page of objects; pass Page.After back as q.After for the
// next one until it is "".
func (c *Client) List(ctx context.Context, objectType string, q ListOptions) (*Page, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	setList(v, "properties", q.Properties)
	setList(v, "associations", q.Associations)
	if q.Archived {
		v.Set("archived", "true")
	}
	var out Page
	if err := c.do(ctx, call{method: http.MethodGet, path: objectPath(objectType), query: v, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

func setList(v url.Values, key string, list []string) {
	if len(list) > 0 {
		v.Set(key, strings.Join(list, ","))
	}
}

// Update PATCHes one object's properties; an empty string clears a value.
func (c *Client) Update(ctx context.Context, objectType, id string, props map[string]string) (*Object, error) {
	if props == nil {
		props = map[string]string{}
	}
	var out Object
	body := struct {
		Properties map[string]string `json:"properties"`
	}{props}
	if err := c.do(ctx, call{method: http.MethodPatch, path: objectPath(objectType, id), body: body, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Archive moves one object to the recycling bin (DELETE).
func (c *Client) Archive(ctx context.Context, objectType, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: objectPath(objectType, id)})
}

type batchInputs[T any] struct {
	Inputs []T `json:"inputs"`
}

// BatchCreate creates up to 100 objects. Give every input a unique
// ObjectWriteTraceID: HubSpot then answers 207 with per-input errors
// (match them with MatchBatch); without it one bad input rejects the whole
// batch (IsBatchRejected). Failures after sending are *InDoubtError.
func (c *Client) BatchCreate(ctx context.Context, objectType string, inputs []CreateInput) (*BatchResult, error) {
	return c.batch(ctx, objectType, "create", batchInputs[CreateInput]{inputs}, true)
}

// BatchRead reads objects by id, or by in.IDProperty's values. Missing ids
// come back as an OBJECT_NOT_FOUND entry in errors[] (207), not an error.
func (c *Client) BatchRead(ctx context.Context, objectType string, in BatchReadInput, archived bool) (*BatchResult, error) {
	var out BatchResult
	cl := call{method: http.MethodPost, path: objectPath(objectType, "batch", "read"), body: in, out: &out}
	if archived {
		cl.query = url.Values{"archived": {"true"}}
	}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return &out, nil
}

// BatchUpdate updates up to 100 objects by id (or IDProperty value).
func (c *Client) BatchUpdate(ctx context.Context, objectType string, inputs []UpdateInput) (*BatchResult, error) {
	return c.batch(ctx, objectType, "update", batchInputs[UpdateInput]{inputs}, false)
}

// BatchUpsert creates or updates up to 100 objects by a unique property
// (IDProperty). It may create, so a failure after sending is *InDoubtError.
func (c *Client) BatchUpsert(ctx context.Context, objectType string, inputs []UpdateInput) (*BatchResult, error) {
	return c.batch(ctx, objectType, "upsert", batchInputs[UpdateInput]{inputs}, true)
}

func (c *Client) batch(ctx context.Context, objectType, op string, body any, create bool) (*BatchResult, error) {
	var out BatchResult
	err := c.do(ctx, call{method: http.MethodPost, path: objectPath(objectType, "batch", op),
		body: body, out: &out, create: create, batchWrite: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// BatchArchive archives up to 100 objects by id (204, also for ids that do
// not exist).
func (c *Client) BatchArchive(ctx context.Context, objectType string, ids []string) error {
	in := batchInputs[ObjectID]{Inputs: make([]ObjectID, len(ids))}
	for i, id := range ids {
		in.Inputs[i] = ObjectID{ID: id}
	}
	return c.do(ctx, call{method: http.MethodPost, path: objectPath(objectType, "batch", "archive"), body: in, batchWrite: true})
}

// Search runs one page of a search. Searches have their own, lower rate
// (Options.SearchPerSecond) and are capped by HubSpot at 10,000 results per
// query; use SearchAll to read past that.
func (c *Client) Search(ctx context.Context, objectType string, req SearchRequest) (*SearchResult, error) {
	var out SearchResult
	if err := c.do(ctx, call{method: http.MethodPost, path: objectPath(objectType, "search"), body: req, out: &out, search: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// searchCap is HubSpot's limit on results reachable by paging one query.
const searchCap = 10000

// SearchAll walks every match past the 10,000-result cap: it sorts by
// sortProperty ascending (then restarts the window with GTE the last value
// seen and drops the overlap by id), calling fn per object. req.Sorts is
// replaced; sortProperty is added to req.Properties. An error from fn stops
// the walk and is returned as is.
//
// The walk assumes fewer than 10,000 objects share one sortProperty value;
// if a whole window brings nothing new it stops with an error rather than
// loop. Use a fine-grained property (hs_object_id, hs_timestamp).
func (c *Client) SearchAll(ctx context.Context, objectType string, req SearchRequest, sortProperty string, fn func(Object) error) error {
	if sortProperty == "" {
		return errors.New("crm: SearchAll needs a sort property")
	}
	if req.Limit <= 0 || req.Limit > 200 {
		req.Limit = 200
	}
	req.Sorts = []Sort{{PropertyName: sortProperty, Direction: "ASCENDING"}}
	if len(req.Properties) > 0 && !contains(req.Properties, sortProperty) {
		req.Properties = append(append([]string(nil), req.Properties...), sortProperty)
	} else if len(req.Properties) == 0 {
		req.Properties = []string{sortProperty}
	}
	base := req.FilterGroups
	var (
		last     string              // sort value of the last object seen
		haveLast bool                // a window restart needs last
		atLast   = map[string]bool{} // ids seen whose sort value == last
	)
	for {
		win := req
		win.After = ""
		if haveLast {
			win.FilterGroups = withFilter(base, Filter{PropertyName: sortProperty, Operator: "GTE", Value: filterValue(last)})
		}
		newInWindow := 0
		for {
			page, err := c.Search(ctx, objectType, win)
			if err != nil {
				return err
			}
			for _, o := range page.Results {
				if atLast[o.ID] {
					continue // overlap from the GTE restart
				}
				v := o.Properties[sortProperty]
				if !haveLast || v != last {
					clear(atLast)
					last, haveLast = v, true
				}
				atLast[o.ID] = true
				newInWindow++
				if err := fn(o); err != nil {
					return err
				}
			}
			if page.After == "" {
				return nil
			}
			next, err := strconv.Atoi(page.After)
			if err == nil && next+win.Limit > searchCap {
				break // the next page would pass the cap: restart the window
			}
			win.After = page.After
		}
		if newInWindow == 0 {
			return fmt.Errorf("crm: search on %s stalled: more than %d objects share %s=%q", objectType, searchCap, sortProperty, last)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// withFilter ANDs f into every group (or makes it the only group).
func withFilter(groups []FilterGroup, f Filter) []FilterGroup {
	if len(groups) == 0 {
		return []FilterGroup{{Filters: []Filter{f}}}
	}
	out := make([]FilterGroup, len(groups))
	for i, g := range groups {
		out[i] = FilterGroup{Filters: append(append([]Filter(nil), g.Filters...), f)}
	}
	return out
}

// filterValue turns a datetime as HubSpot returns it into epoch
// milliseconds, the form its filters document; other values pass through.
func filterValue(v string) string {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	return v
}
