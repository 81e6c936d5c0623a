package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The sandbox's own wire structs. They are deliberately not shared with the
// crm client: the server must be able to disagree with the client.

type errorDetail struct {
	Message     string              `json:"message"`
	In          string              `json:"in,omitempty"`
	Code        string              `json:"code,omitempty"`
	SubCategory string              `json:"subCategory,omitempty"`
	Context     map[string][]string `json:"context,omitempty"`
}

// apiError is HubSpot's standard error body (schema Error) and, as a value
// of errors[] in a 207, StandardError.
type apiError struct {
	httpStatus    int
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId,omitempty"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.httpStatus, e.Category, e.Message)
}

func newAPIError(status int, category, format string, args ...any) *apiError {
	return &apiError{httpStatus: status, Status: "error", Category: category, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", format, args...)
}

// notFound is the body HubSpot sends for a single-object GET/PATCH/DELETE of
// an id it does not have.
func notFound(id string) *apiError {
	e := newAPIError(http.StatusNotFound, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
	e.Context = map[string][]string{"id": {id}}
	return e
}

// propertyProblem is one entry of HubSpot's "Property values were not
// valid" list. HubSpot embeds the list as JSON inside message; we also give
// it as errors[] so clients need not parse the message.
type propertyProblem struct {
	IsValid   bool   `json:"isValid"`
	Message   string `json:"message"`
	Error     string `json:"error"`
	Name      string `json:"name"`
	Localized string `json:"localizedErrorMessage"`
	// PropertyValue is the value refused, on a value's problems (a real
	// INVALID_INTEGER answer carries it; Atlas-Authority/marketing-automation#206).
	PropertyValue string `json:"propertyValue,omitempty"`
}

func propertyError(problems []propertyProblem) *apiError {
	b, _ := json.Marshal(problems)
	e := badRequest("Property values were not valid: %s", b)
	for _, p := range problems {
		e.Errors = append(e.Errors, errorDetail{
			Message: p.Message, Code: p.Error,
			Context: map[string][]string{"propertyName": {p.Name}},
		})
	}
	return e
}

// rateLimitBody is the 429 body: errorType and policyName, not category.
type rateLimitBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	ErrorType     string `json:"errorType"`
	CorrelationID string `json:"correlationId"`
	PolicyName    string `json:"policyName"`
	RequestID     string `json:"requestId"`
}

// flexString is a string on the wire that HubSpot also accepts as a JSON
// number or boolean (its own docs send "hubspot_owner_id": 1234567 and
// "to": {"id": 9001}). null decodes to "" with null set.
type flexString struct {
	s    string
	null bool
}

func (f *flexString) UnmarshalJSON(b []byte) error {
	// The decoder hands over one complete, already validated literal, so a
	// string without escapes is its own content (valid UTF-8 checked: the
	// slow path turns invalid bytes into U+FFFD, as encoding/json does).
	if len(b) >= 2 && b[0] == '"' {
		inner := b[1 : len(b)-1]
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			*f = flexString{s: string(inner)}
			return nil
		}
		*f = flexString{}
		return json.Unmarshal(b, &f.s)
	}
	switch s := strings.TrimSpace(string(b)); {
	case s == "null":
		*f = flexString{null: true}
		return nil
	case s == "true" || s == "false":
		*f = flexString{s: s}
		return nil
	case s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')):
		if !json.Valid(b) {
			return fmt.Errorf("want a string, got %s", b)
		}
		*f = flexString{s: s}
		return nil
	}
	return fmt.Errorf("want a string, got %s", b)
}

func (f flexString) MarshalJSON() ([]byte, error) { return json.Marshal(f.s) }

type objectID struct {
	ID flexString `json:"id"`
}

type assocTypeSpec struct {
	AssociationCategory string `json:"associationCategory"`
	AssociationTypeID   int    `json:"associationTypeId"`
}

type inlineAssociation struct {
	To    objectID        `json:"to"`
	Types []assocTypeSpec `json:"types"`
}

type createInput struct {
	Properties         map[string]flexString `json:"properties"`
	Associations       []inlineAssociation   `json:"associations"`
	ObjectWriteTraceID string                `json:"objectWriteTraceId,omitempty"`
}

type updateInput struct {
	ID                 flexString            `json:"id"`
	IDProperty         string                `json:"idProperty,omitempty"`
	Properties         map[string]flexString `json:"properties"`
	ObjectWriteTraceID string                `json:"objectWriteTraceId,omitempty"`
}

type batchCreateRequest struct {
	Inputs []createInput `json:"inputs"`
}

type batchUpdateRequest struct {
	Inputs []updateInput `json:"inputs"`
}

type batchReadRequest struct {
	Inputs                []objectID `json:"inputs"`
	Properties            []string   `json:"properties"`
	PropertiesWithHistory []string   `json:"propertiesWithHistory"`
	IDProperty            string     `json:"idProperty,omitempty"`
}

type batchArchiveRequest struct {
	Inputs []objectID `json:"inputs"`
}

type associatedID struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type assocCollection struct {
	Results []associatedID `json:"results"`
}

// publicObject is SimplePublicObject(WithAssociations); New is set only by
// batch/upsert (SimplePublicUpsertObject).
type publicObject struct {
	ID           string                     `json:"id"`
	Properties   map[string]*string         `json:"properties"`
	CreatedAt    string                     `json:"createdAt"`
	UpdatedAt    string                     `json:"updatedAt"`
	Archived     bool                       `json:"archived"`
	ArchivedAt   string                     `json:"archivedAt,omitempty"`
	Associations map[string]assocCollection `json:"associations,omitempty"`
	New          *bool                      `json:"new,omitempty"`
	TraceID      string                     `json:"objectWriteTraceId,omitempty"`
}

type batchResponse struct {
	Status      string     `json:"status"`
	Results     any        `json:"results"`
	NumErrors   int        `json:"numErrors,omitempty"`
	Errors      []apiError `json:"errors,omitempty"`
	RequestedAt string     `json:"requestedAt,omitempty"`
	StartedAt   string     `json:"startedAt"`
	CompletedAt string     `json:"completedAt"`
}

type nextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

type paging struct {
	Next nextPage `json:"next"`
}

type collectionResponse struct {
	Total   *int           `json:"total,omitempty"`
	Results []publicObject `json:"results"`
	Paging  *paging        `json:"paging,omitempty"`
}

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        any      `json:"value,omitempty"`
	HighValue    any      `json:"highValue,omitempty"`
	Values       []any    `json:"values,omitempty"`
	values       []string // Values as strings
	// folded is values as a set, for properties compared as text
	// (case-insensitively): an IN of 100 keys is one lookup a record.
	folded map[string]bool
	// value and high are Value and HighValue read once as compare reads
	// them, for properties compared as numbers or instants (compiled).
	value, high filterBound
	compiled    bool
	def         *propertyDef // the property's definition when compiled
}

// filterBound is a number or datetime value as compare reads it: ok is
// false when it does not parse, and compare then answers (0, false).
type filterBound struct {
	ok  bool
	num float64
	at  time.Time
}

type filterGroup struct {
	Filters []searchFilter `json:"filters"`
}

type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// searchRequest accepts sorts both as HubSpot's documented objects and as
// the strings the spec types them as ("hs_timestamp", "-hs_timestamp").
type searchRequest struct {
	FilterGroups []filterGroup     `json:"filterGroups"`
	Sorts        []json.RawMessage `json:"sorts"`
	Query        string            `json:"query"`
	Properties   []string          `json:"properties"`
	Limit        *int              `json:"limit"`
	After        json.RawMessage   `json:"after"`
}

// propertyOption is an enumeration option of a property definition.
type propertyOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description,omitempty"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type modificationMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

// propertyDef is the Property schema of the properties API.
type propertyDef struct {
	Name                 string               `json:"name"`
	Label                string               `json:"label"`
	Type                 string               `json:"type"`
	FieldType            string               `json:"fieldType"`
	Description          string               `json:"description"`
	GroupName            string               `json:"groupName"`
	Options              []propertyOption     `json:"options"`
	DisplayOrder         int                  `json:"displayOrder"`
	Calculated           bool                 `json:"calculated"`
	ExternalOptions      bool                 `json:"externalOptions"`
	HasUniqueValue       bool                 `json:"hasUniqueValue"`
	Hidden               bool                 `json:"hidden"`
	HubspotDefined       bool                 `json:"hubspotDefined,omitempty"`
	FormField            bool                 `json:"formField"`
	CreatedAt            string               `json:"createdAt,omitempty"`
	UpdatedAt            string               `json:"updatedAt,omitempty"`
	ModificationMetadata modificationMetadata `json:"modificationMetadata"`
}

// formatTime renders an instant the way HubSpot does (Java's
// Instant.toString at millisecond precision): "2024-05-01T10:00:00Z" when
// the milliseconds are zero, "2024-05-01T10:00:00.123Z" otherwise.
func formatTime(t time.Time) string {
	var b [32]byte
	return string(appendTime(b[:0], t))
}

// parseInstant accepts the forms HubSpot accepts for datetime values:
// epoch milliseconds, RFC 3339 / ISO-8601 with a zone, or a bare date
// (midnight UTC).
func parseInstant(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// scalarString turns a JSON scalar (string, number, bool) into the string
// HubSpot would see; search filter values arrive as either.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// propertyGroup is HubSpot's PropertyGroup (and, without archived, its
// PropertyGroupCreate).
type propertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}
