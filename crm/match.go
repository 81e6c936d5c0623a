package crm

// ItemOutcome is what happened to one input of a batch write.
type ItemOutcome struct {
	TraceID string
	Object  *Object        // set on success
	Err     *StandardError // set on failure
}

// MissingResult is the Category of an outcome HubSpot's answer did not name.
const MissingResult = "MISSING_RESULT"

// MatchBatch maps results to inputs by objectWriteTraceId (the result's
// objectWriteTraceId field, else the result property named keyProperty —
// commlog writes the same value there — for portals that do not echo the
// trace id) and errors by their context["objectWriteTraceId"]; inputs named
// by neither get Err with Category "MISSING_RESULT". Never by position.
//
// The outcomes are in traceIDs order. A trace id named by both a result and
// an error keeps the result (the object exists). res may be nil (all missing).
func MatchBatch(traceIDs []string, res *BatchResult, keyProperty string) []ItemOutcome {
	want := make(map[string]int, len(traceIDs))
	out := make([]ItemOutcome, len(traceIDs))
	for i, id := range traceIDs {
		out[i].TraceID = id
		if _, dup := want[id]; !dup {
			want[id] = i
		}
	}
	if res != nil {
		for i := range res.Errors {
			e := &res.Errors[i]
			for _, id := range e.Context["objectWriteTraceId"] {
				if j, ok := want[id]; ok && out[j].Object == nil {
					out[j].Err = e
				}
			}
		}
		for i := range res.Results {
			o := &res.Results[i]
			id := o.ObjectWriteTraceID
			if id == "" && keyProperty != "" {
				id = o.Properties[keyProperty]
			}
			if j, ok := want[id]; ok && id != "" {
				out[j].Object, out[j].Err = o, nil
			}
		}
	}
	for i := range out {
		if out[i].Object == nil && out[i].Err == nil {
			out[i].Err = &StandardError{
				Status:   "error",
				Category: MissingResult,
				Message:  "HubSpot's answer named neither a result nor an error for this input",
				Context:  map[string][]string{"objectWriteTraceId": {out[i].TraceID}},
			}
		}
	}
	return out
}
