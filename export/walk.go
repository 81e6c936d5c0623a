package export

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/commlog/commlog/crm"
)

// searchCap is HubSpot's limit on results one search query can page to.
const searchCap = 10000

// walker streams every record whose hs_lastmodifieddate (as search sees
// it) lies in [from, to), each exactly once, in ascending order of that
// time. See the package doc for why it restarts rather than trusting
// offsets.
type walker struct {
	api   API
	props []string // properties to ask for; include propID and propModified
	limit int      // search page size (≤ 200)
	cap   int      // results one query can reach (HubSpot: 10,000)
	// page receives the new records of each page, in order; an error stops
	// the walk.
	page func(ctx context.Context, objs []crm.Object) error
	// pages counts search requests.
	pages func()
	// peakSeen is the largest the overlap set grew: tests hold it to the
	// number of records sharing one instant (memory flat in the export).
	peakSeen int
}

// walk runs the time-ordered walk over [from, to) in milliseconds.
func (w *walker) walk(ctx context.Context, from, to int64) error {
	cursor, inclusive := from, true
	// seen holds the ids already written whose time equals cursor: the
	// overlap a restart at cursor (GTE) brings back. It is the only state
	// that grows, bounded by the records sharing one instant.
	seen := map[string]bool{}
	for cursor < to {
		progressed, done, err := w.window(ctx, &cursor, &inclusive, seen, to)
		if err != nil || done {
			return err
		}
		if !progressed {
			// A whole window brought nothing new: more records share cursor
			// than a window reaches, or they keep changing under us. Walk
			// that instant by id, which needs no offsets.
			if err := w.ties(ctx, cursor, seen); err != nil {
				return err
			}
			inclusive = false
			clear(seen)
		}
	}
	return nil
}

// window pages one query starting at cursor until the end (done), the cap,
// or a change in the result set, advancing cursor and seen as it writes.
func (w *walker) window(ctx context.Context, cursor *int64, inclusive *bool, seen map[string]bool, to int64) (progressed, done bool, err error) {
	op := "GTE"
	if !*inclusive {
		op = "GT"
	}
	req := crm.SearchRequest{
		FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{
			{PropertyName: propModified, Operator: op, Value: strconv.FormatInt(*cursor, 10)},
			{PropertyName: propModified, Operator: "LT", Value: strconv.FormatInt(to, 10)},
		}}},
		Sorts:      []crm.Sort{{PropertyName: propModified, Direction: "ASCENDING"}},
		Properties: w.props,
		Limit:      w.limit,
	}
	total := -1
	for {
		if err := ctx.Err(); err != nil {
			return progressed, false, err
		}
		res, err := w.api.Search(ctx, crm.Communications, req)
		w.pages()
		if err != nil {
			return progressed, false, fmt.Errorf("export: searching changes since %s: %w", formatTime(time.UnixMilli(*cursor)), err)
		}
		if total >= 0 && res.Total != total {
			// Records entered or left the window since its first page, so
			// offsets shifted: this page may have skipped some. Drop it and
			// restart at the cursor.
			return progressed, false, nil
		}
		total = res.Total
		var fresh []crm.Object
		for i := range res.Results {
			o := res.Results[i]
			ts, err := modifiedMillis(&o)
			if err != nil {
				return progressed, false, err
			}
			switch {
			case ts < *cursor || ts >= to:
				return progressed, false, fmt.Errorf("export: search returned record %s modified at %s, outside the window [%s, %s) or out of order; refusing to guess what was skipped",
					o.ID, formatTime(time.UnixMilli(ts)), formatTime(time.UnixMilli(*cursor)), formatTime(time.UnixMilli(to)))
			case ts == *cursor:
				if !*inclusive || seen[o.ID] {
					continue // overlap of a restart
				}
			default:
				*cursor, *inclusive = ts, true
				clear(seen)
			}
			seen[o.ID] = true
			w.peakSeen = max(w.peakSeen, len(seen))
			fresh = append(fresh, o)
		}
		if len(fresh) > 0 {
			progressed = true
			if err := w.page(ctx, fresh); err != nil {
				return progressed, false, err
			}
		}
		if res.After == "" || len(res.Results) == 0 {
			return progressed, true, nil
		}
		if next, err := strconv.Atoi(res.After); err == nil && next+w.limit > w.cap {
			return progressed, false, nil // the next page would pass the cap
		}
		req.After = res.After
	}
}

// ties writes every record modified exactly at ts that is not in seen,
// walking them by hs_object_id with a fresh query per page (ids are
// unique, so "GT last id" needs no offsets and no overlap).
func (w *walker) ties(ctx context.Context, ts int64, seen map[string]bool) error {
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		filters := []crm.Filter{{PropertyName: propModified, Operator: "EQ", Value: strconv.FormatInt(ts, 10)}}
		if last != "" {
			filters = append(filters, crm.Filter{PropertyName: propID, Operator: "GT", Value: last})
		}
		req := crm.SearchRequest{
			FilterGroups: []crm.FilterGroup{{Filters: filters}},
			Sorts:        []crm.Sort{{PropertyName: propID, Direction: "ASCENDING"}},
			Properties:   w.props,
			Limit:        w.limit,
		}
		res, err := w.api.Search(ctx, crm.Communications, req)
		w.pages()
		if err != nil {
			return fmt.Errorf("export: searching records modified at %s: %w", formatTime(time.UnixMilli(ts)), err)
		}
		var fresh []crm.Object
		for i := range res.Results {
			o := res.Results[i]
			if last != "" && !idLess(last, o.ID) {
				return fmt.Errorf("export: search by %s returned %s after %s; refusing to guess what was skipped", propID, o.ID, last)
			}
			last = o.ID
			if mts, err := modifiedMillis(&o); err != nil {
				return err
			} else if mts != ts {
				continue // changed since; a later run exports the new version
			}
			if !seen[o.ID] {
				fresh = append(fresh, o)
			}
		}
		if len(fresh) > 0 {
			if err := w.page(ctx, fresh); err != nil {
				return err
			}
		}
		if len(res.Results) < w.limit || res.After == "" {
			return nil
		}
	}
}

// modifiedMillis is a record's hs_lastmodifieddate in epoch milliseconds,
// falling back to updatedAt when the property is missing.
func modifiedMillis(o *crm.Object) (int64, error) {
	if v := o.Properties[propModified]; v != "" {
		t, ok := parseTime(v)
		if !ok {
			return 0, fmt.Errorf("export: record %s: %s %q is not a time", o.ID, propModified, v)
		}
		return t.UnixMilli(), nil
	}
	if !o.UpdatedAt.IsZero() {
		return o.UpdatedAt.UnixMilli(), nil
	}
	return 0, fmt.Errorf("export: record %s has no %s", o.ID, propModified)
}
