package crm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatchBatch(t *testing.T) {
	obj := func(id, trace, key string) Object {
		o := Object{ID: id, ObjectWriteTraceID: trace, Properties: map[string]string{}}
		if key != "" {
			o.Properties[KeyProperty] = key
		}
		return o
	}
	errFor := func(cat string, traces ...string) StandardError {
		return StandardError{Status: "error", Category: cat, Context: map[string][]string{"objectWriteTraceId": traces}}
	}
	tests := []struct {
		name   string
		traces []string
		res    *BatchResult
		want   []string // traceID=objectID or traceID=!category
	}{
		{"echoed trace ids, reversed order", []string{"a", "b", "c"},
			&BatchResult{Results: []Object{obj("3", "c", ""), obj("2", "b", ""), obj("1", "a", "")}},
			[]string{"a=1", "b=2", "c=3"}},
		{"no echo: fall back to the key property", []string{"a", "b"},
			&BatchResult{Results: []Object{obj("20", "", "b"), obj("10", "", "a")}},
			[]string{"a=10", "b=20"}},
		{"errors by context, one error naming two inputs", []string{"a", "b", "c"},
			&BatchResult{Results: []Object{obj("2", "b", "")}, Errors: []StandardError{errFor("VALIDATION_ERROR", "a", "c")}},
			[]string{"a=!VALIDATION_ERROR", "b=2", "c=!VALIDATION_ERROR"}},
		{"unnamed inputs are missing, never guessed by position", []string{"a", "b"},
			&BatchResult{Results: []Object{obj("1", "", "")}, Errors: []StandardError{{Category: "VALIDATION_ERROR"}}},
			[]string{"a=!MISSING_RESULT", "b=!MISSING_RESULT"}},
		{"unknown trace ids in the answer are ignored", []string{"a"},
			&BatchResult{Results: []Object{obj("1", "zzz", "")}},
			[]string{"a=!MISSING_RESULT"}},
		{"a result beats an error for the same input", []string{"a"},
			&BatchResult{Results: []Object{obj("1", "a", "")}, Errors: []StandardError{errFor("CONFLICT", "a")}},
			[]string{"a=1"}},
		{"nil result", []string{"a"}, nil, []string{"a=!MISSING_RESULT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range MatchBatch(tt.traces, tt.res, KeyProperty) {
				switch {
				case o.Object != nil && o.Err == nil:
					got = append(got, o.TraceID+"="+o.Object.ID)
				case o.Err != nil && o.Object == nil:
					got = append(got, o.TraceID+"=!"+o.Err.Category)
				default:
					t.Errorf("%s: outcome has both or neither: %+v", o.TraceID, o)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
