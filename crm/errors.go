package crm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// ErrDailyReserve stops a run before it drains the portal's daily quota (or
// when HubSpot reports the daily limit reached). It is always wrapped with
// the numbers; the run can be resumed once the quota resets.
var ErrDailyReserve = errors.New("daily API quota reserve reached")

// Error is a non-2xx answer from HubSpot. Message, Context and Errors are
// HubSpot's own and may echo property values (PII); Error() trims values
// unless the client was built with LogPII.
type Error struct {
	StatusCode    int
	Method, Path  string
	Category      string // category, or errorType for 429 bodies (RATE_LIMIT)
	SubCategory   string
	Message       string
	CorrelationID string
	ErrorType     string
	PolicyName    string // 429: TEN_SECONDLY_ROLLING, SECONDLY, DAILY
	Context       map[string][]string
	Errors        []ErrorDetail
	// BatchWrite is set when the request was a batch write (create, update,
	// upsert, archive): a 400 then refused the whole batch (IsBatchRejected).
	BatchWrite bool

	logPII bool
}

// Error returns "METHOD /path: STATUS CATEGORY: message". CorrelationID is
// left out to keep the text stable; log the field when reporting to HubSpot.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Category != "" {
		b.WriteString(" " + e.Category)
	}
	if e.PolicyName != "" && e.PolicyName != e.Category {
		b.WriteString(" (" + e.PolicyName + ")")
	}
	if m := e.message(); m != "" {
		b.WriteString(": " + m)
	}
	return b.String()
}

// message is HubSpot's message, or, without LogPII, a summary that keeps
// property names and error codes but drops the values HubSpot echoes.
func (e *Error) message() string {
	if e.logPII || !mayEchoValues(e) {
		return e.Message
	}
	return redactedMessage(e.Message, e.Errors)
}

// mayEchoValues: validation and conflict messages quote submitted values;
// auth, not-found and rate-limit messages do not.
func mayEchoValues(e *Error) bool {
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		return true
	}
	return e.Category == "VALIDATION_ERROR"
}

// redactedMessage summarises a validation message as "code(property)" items.
// It uses errors[] when present, else the validation-results array HubSpot
// embeds in "Property values were not valid: [...]", else the text before
// the first colon.
func redactedMessage(msg string, details []ErrorDetail) string {
	var items []string
	for _, d := range details {
		items = append(items, detailSummary(d.Code, d.Context["propertyName"]))
	}
	if len(items) == 0 {
		if i := strings.Index(msg, ": ["); i >= 0 {
			var embedded []struct {
				Error string `json:"error"`
				Name  string `json:"name"`
			}
			if json.Unmarshal([]byte(msg[i+2:]), &embedded) == nil {
				for _, v := range embedded {
					items = append(items, detailSummary(v.Error, []string{v.Name}))
				}
			}
		}
	}
	head := msg
	if i := strings.IndexAny(msg, ":"); i >= 0 {
		head = msg[:i]
	}
	if len(items) == 0 {
		if head != msg {
			return head + " (details hidden; enable LogPII to see them)"
		}
		return msg
	}
	return head + ": " + strings.Join(items, ", ")
}

func detailSummary(code string, props []string) string {
	if code == "" {
		code = "INVALID"
	}
	var names []string
	for _, p := range props {
		if p != "" {
			names = append(names, p)
		}
	}
	if len(names) == 0 {
		return code
	}
	sort.Strings(names)
	return code + "(" + strings.Join(names, ",") + ")"
}

// errorBody covers both HubSpot error shapes: the standard Error schema and
// the 429 body (errorType, policyName).
type errorBody struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	SubCategory   any                 `json:"subCategory"`
	ErrorType     string              `json:"errorType"`
	PolicyName    string              `json:"policyName"`
	Context       map[string][]string `json:"context"`
	Errors        []ErrorDetail       `json:"errors"`
}

// parseError builds an *Error from a non-2xx response. It never fails: an
// empty or non-JSON body (404s often have none) leaves only the status.
func parseError(method, path string, status int, header http.Header, body []byte, logPII bool) *Error {
	e := &Error{StatusCode: status, Method: method, Path: path, logPII: logPII}
	var w errorBody
	if len(body) > 0 && json.Unmarshal(body, &w) == nil {
		e.Message = w.Message
		e.CorrelationID = w.CorrelationID
		e.Category = w.Category
		e.ErrorType = w.ErrorType
		e.PolicyName = w.PolicyName
		e.Context = w.Context
		e.Errors = w.Errors
		switch s := w.SubCategory.(type) {
		case string:
			e.SubCategory = s
		case nil:
		default:
			// Some endpoints send subCategory as an object; keep it readable.
			if b, err := json.Marshal(s); err == nil {
				e.SubCategory = string(b)
			}
		}
	} else if len(body) > 0 && logPII {
		e.Message = truncate(string(body), 512)
	}
	if e.Category == "" {
		e.Category = e.ErrorType
	}
	if e.CorrelationID == "" {
		e.CorrelationID = header.Get("X-Hubspot-Correlation-Id")
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsRateLimited reports a 429 (any policy).
func IsRateLimited(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusTooManyRequests
}

// IsNotFound reports a 404 or an OBJECT_NOT_FOUND category.
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusNotFound || e.Category == "OBJECT_NOT_FOUND")
}

// IsUnauthorized reports a 401 (bad or expired token) or a 403 (missing scopes).
func IsUnauthorized(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// IsValidation reports a 400 or a VALIDATION_ERROR category.
func IsValidation(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusBadRequest || e.Category == "VALIDATION_ERROR")
}

// IsConflict reports a 409 (e.g. a duplicate unique value or property name).
func IsConflict(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusConflict || e.Category == "CONFLICT")
}

// IsBatchRejected reports a 400 answering a batch write: HubSpot refused the
// whole batch (nothing was written), so the caller may split it to find the
// bad input.
func IsBatchRejected(err error) bool {
	e, ok := asError(err)
	return ok && e.BatchWrite && e.StatusCode == http.StatusBadRequest
}

// InDoubtError says a write may or may not have been applied: the request
// was sent (or a 5xx came back for a create) and no usable answer arrived.
// The client never re-sends such a write; the caller reconciles.
type InDoubtError struct {
	Method, Path string
	Err          error
}

func (e *InDoubtError) Error() string {
	return fmt.Sprintf("%s %s: outcome unknown, the write may have been applied: %v", e.Method, e.Path, e.Err)
}

func (e *InDoubtError) Unwrap() error { return e.Err }

// IsInDoubt reports whether err is (or wraps) an *InDoubtError.
func IsInDoubt(err error) bool {
	var e *InDoubtError
	return errors.As(err, &e)
}
