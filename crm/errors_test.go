package crm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Real HubSpot error bodies (see shared/reference/hubspot-api.md §2, §3).
const (
	bodyUnknownProperty = `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"description\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"description\",\"localizedErrorMessage\":\"Property \\\"description\\\" does not exist\",\"portalId\":244764782}]","correlationId":"ffbce914-a7be-4a80-a701-2e8bad686524","errors":[{"message":"Property \"description\" does not exist","code":"PROPERTY_DOESNT_EXIST","context":{"propertyName":["description"]}}],"category":"VALIDATION_ERROR"}`
	bodyBadOption       = `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"reports was not one of the allowed options: [PRODUCT_ISSUE, BILLING_ISSUE]\",\"error\":\"INVALID_OPTION\",\"name\":\"hs_ticket_category\"}]","correlationId":"0f1e","category":"VALIDATION_ERROR"}`
	bodyExpired         = `{"status":"error","message":"The OAuth token used to make this call expired 0 second(s) ago.","correlationId":"019cd9fe-d093-7d4f-99bc-45975fdcf7c6","category":"EXPIRED_AUTHENTICATION","context":{"expire time":["2026-03-10T23:04:41.164Z"]}}`
	bodyDaily           = `{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"DAILY","requestId":"3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}`
	bodyConflict        = `{"status":"error","message":"A property named 'commlog_key' already exists.","correlationId":"aa","category":"OBJECT_ALREADY_EXISTS"}`
)

func TestParseError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		header http.Header
		pii    bool
		want   *Error
		text   string // Error()
		is     []string
	}{
		{
			name: "unknown property", status: 400, body: bodyUnknownProperty,
			want: &Error{StatusCode: 400, Method: "POST", Path: "/p", Category: "VALIDATION_ERROR", CorrelationID: "ffbce914-a7be-4a80-a701-2e8bad686524",
				Errors: []ErrorDetail{{Message: `Property "description" does not exist`, Code: "PROPERTY_DOESNT_EXIST", Context: map[string][]string{"propertyName": {"description"}}}}},
			text: "POST /p: 400 VALIDATION_ERROR: Property values were not valid: PROPERTY_DOESNT_EXIST(description)",
			is:   []string{"validation"},
		},
		{
			name: "bad option, values trimmed from the embedded array", status: 400, body: bodyBadOption,
			want: &Error{StatusCode: 400, Method: "POST", Path: "/p", Category: "VALIDATION_ERROR", CorrelationID: "0f1e"},
			text: "POST /p: 400 VALIDATION_ERROR: Property values were not valid: INVALID_OPTION(hs_ticket_category)",
			is:   []string{"validation"},
		},
		{
			name: "bad option with LogPII keeps the message", status: 400, body: bodyBadOption, pii: true,
			want: &Error{StatusCode: 400, Method: "POST", Path: "/p", Category: "VALIDATION_ERROR", CorrelationID: "0f1e"},
			text: "POST /p: 400 VALIDATION_ERROR: Property values were not valid: [{\"isValid\":false,\"message\":\"reports was not one of the allowed options: [PRODUCT_ISSUE, BILLING_ISSUE]\",\"error\":\"INVALID_OPTION\",\"name\":\"hs_ticket_category\"}]",
			is:   []string{"validation"},
		},
		{
			name: "expired token", status: 401, body: bodyExpired,
			want: &Error{StatusCode: 401, Method: "POST", Path: "/p", Category: "EXPIRED_AUTHENTICATION", CorrelationID: "019cd9fe-d093-7d4f-99bc-45975fdcf7c6",
				Context: map[string][]string{"expire time": {"2026-03-10T23:04:41.164Z"}}},
			text: "POST /p: 401 EXPIRED_AUTHENTICATION: The OAuth token used to make this call expired 0 second(s) ago.",
			is:   []string{"unauthorized"},
		},
		{
			name: "daily 429", status: 429, body: bodyDaily,
			want: &Error{StatusCode: 429, Method: "POST", Path: "/p", Category: "RATE_LIMIT", ErrorType: "RATE_LIMIT", PolicyName: "DAILY", CorrelationID: "c033cdaa-2c40-4a64-ae48-b4cec88dad24"},
			text: "POST /p: 429 RATE_LIMIT (DAILY): You have reached your daily limit.",
			is:   []string{"ratelimited"},
		},
		{
			name: "conflict", status: 409, body: bodyConflict,
			want: &Error{StatusCode: 409, Method: "POST", Path: "/p", Category: "OBJECT_ALREADY_EXISTS", CorrelationID: "aa"},
			text: "POST /p: 409 OBJECT_ALREADY_EXISTS: A property named 'commlog_key' already exists.",
			is:   []string{"conflict"},
		},
		{
			name: "empty 404 with correlation header", status: 404, header: http.Header{"X-Hubspot-Correlation-Id": {"hdr-1"}},
			want: &Error{StatusCode: 404, Method: "POST", Path: "/p", CorrelationID: "hdr-1"},
			text: "POST /p: 404: Not Found",
			is:   []string{"notfound"},
		},
		{
			name: "HTML gateway page", status: 502, body: "<html>Bad Gateway</html>",
			want: &Error{StatusCode: 502, Method: "POST", Path: "/p"},
			text: "POST /p: 502: Bad Gateway",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got := parseError("POST", "/p", tt.status, h, []byte(tt.body), tt.pii)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Error{}), cmpopts.IgnoreFields(Error{}, "Message")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Error() != tt.text {
				t.Errorf("Error() =\n%q\nwant\n%q", got.Error(), tt.text)
			}
			var err error = fmt.Errorf("wrapped: %w", got)
			checks := map[string]bool{
				"validation": IsValidation(err), "unauthorized": IsUnauthorized(err), "ratelimited": IsRateLimited(err),
				"notfound": IsNotFound(err), "conflict": IsConflict(err),
			}
			for name, v := range checks {
				if v != contains(tt.is, name) {
					t.Errorf("Is%s = %v", name, v)
				}
			}
			if IsBatchRejected(err) {
				t.Error("IsBatchRejected on a non-batch error")
			}
		})
	}
}

func TestIsHelpersOnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), &InDoubtError{Err: errors.New("EOF")}} {
		if IsRateLimited(err) || IsNotFound(err) || IsUnauthorized(err) || IsValidation(err) || IsConflict(err) || IsBatchRejected(err) {
			t.Errorf("a helper matched %v", err)
		}
	}
	rej := &Error{StatusCode: 400, BatchWrite: true}
	if !IsBatchRejected(fmt.Errorf("x: %w", rej)) {
		t.Error("IsBatchRejected missed a wrapped 400 batch write")
	}
	if IsBatchRejected(&Error{StatusCode: 500, BatchWrite: true}) {
		t.Error("IsBatchRejected matched a 500")
	}
}

// FuzzParseError: any status and body must give an *Error whose Error()
// names the request and status, without panicking.
func FuzzParseError(f *testing.F) {
	for _, b := range []string{bodyUnknownProperty, bodyBadOption, bodyExpired, bodyDaily, bodyConflict, "", "null", "[]", `{"subCategory":{"a":1}}`, `{"message":"x: [1,2"}`} {
		f.Add(400, b)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		for _, pii := range []bool{false, true} {
			e := parseError("POST", "/x", status, http.Header{}, []byte(body), pii)
			s := e.Error()
			if !strings.HasPrefix(s, fmt.Sprintf("POST /x: %d", status)) {
				t.Fatalf("Error() = %q", s)
			}
		}
	})
}

// TestWireRoundTrip checks the JSON shapes other packages (and the sandbox)
// rely on: nulls decode to "", empty lists are sent as [], paging maps to After.
func TestWireRoundTrip(t *testing.T) {
	var o Object
	if err := json.Unmarshal([]byte(`{"id":"1","properties":{"a":null,"b":"x"},"createdAt":"2024-05-02T08:11:09.163Z","updatedAt":"2024-05-02T08:11:09.163Z","archived":false}`), &o); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "", "b": "x"}, o.Properties); diff != "" {
		t.Errorf("properties (-want +got):\n%s", diff)
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"create input", CreateInput{}, `{"properties":{},"associations":[]}`},
		{"batch read", BatchReadInput{Inputs: []ObjectID{{"1"}}}, `{"inputs":[{"id":"1"}],"properties":[],"propertiesWithHistory":[]}`},
		{"search result", SearchResult{Total: 3, After: "2"}, `{"total":3,"results":[],"paging":{"next":{"after":"2"}}}`},
		{"last page", Page{}, `{"results":[]}`},
		{"update input", UpdateInput{ID: "1", Properties: map[string]string{"a": ""}}, `{"id":"1","properties":{"a":""}}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, b, tt.want)
		}
	}
	var al AssociationLabels
	if err := json.Unmarshal([]byte(`{"fromObjectTypeId":"0-18","fromObjectId":46372551411,"toObjectTypeId":"0-1","toObjectId":"101","labels":[]}`), &al); err != nil {
		t.Fatal(err)
	}
	if al.FromObjectID != "46372551411" || al.ToObjectID != "101" {
		t.Errorf("AssociationLabels = %+v", al)
	}
	var sr SearchResult
	if err := json.Unmarshal([]byte(`{"total":431,"results":[{"id":"9","properties":{}}],"paging":{"next":{"after":"200"}}}`), &sr); err != nil {
		t.Fatal(err)
	}
	if sr.Total != 431 || sr.After != "200" || len(sr.Results) != 1 {
		t.Errorf("SearchResult = %+v", sr)
	}
}
