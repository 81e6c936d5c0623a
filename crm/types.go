package crm

import (
	"encoding/json"
	"time"
)

// Object types commlog reads and writes.
const (
	Communications = "communications"
	Contacts       = "contacts"
	Companies      = "companies"
	Deals          = "deals"
	Tickets        = "tickets"
)

// KeyProperty is the custom string property on communications where commlog
// stores each row's idempotency key (the same value it sends as
// objectWriteTraceId), so in-doubt batches can be reconciled by search.
const KeyProperty = "commlog_key"

// Association categories.
const (
	HubSpotDefined    = "HUBSPOT_DEFINED"
	UserDefined       = "USER_DEFINED"
	IntegratorDefined = "INTEGRATOR_DEFINED"
)

// ObjectID is HubSpot's {"id": "..."}.
type ObjectID struct {
	ID string `json:"id"`
}

// AssociationType names one association type between two object types.
type AssociationType struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

// AssociationInput is one inline association sent with a create.
type AssociationInput struct {
	To    ObjectID          `json:"to"`
	Types []AssociationType `json:"types"`
}

// CreateInput is one object to create. Associations is always sent (as []
// when empty) because HubSpot's schema marks it required.
type CreateInput struct {
	Properties         map[string]string  `json:"properties"`
	Associations       []AssociationInput `json:"associations"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId,omitempty"`
}

// MarshalJSON sends "associations": [] and "properties": {} rather than null.
func (in CreateInput) MarshalJSON() ([]byte, error) {
	type plain CreateInput
	p := plain(in)
	if p.Associations == nil {
		p.Associations = []AssociationInput{}
	}
	if p.Properties == nil {
		p.Properties = map[string]string{}
	}
	return json.Marshal(p)
}

// UpdateInput is one object to update or upsert. ID is the record id, or the
// value of the unique property named by IDProperty.
type UpdateInput struct {
	ID                 string            `json:"id"`
	IDProperty         string            `json:"idProperty,omitempty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
	Properties         map[string]string `json:"properties"`
}

// BatchReadInput is the body of batch/read. Properties and
// PropertiesWithHistory are always sent (as [] when empty).
type BatchReadInput struct {
	Inputs                []ObjectID `json:"inputs"`
	Properties            []string   `json:"properties"`
	PropertiesWithHistory []string   `json:"propertiesWithHistory"`
	IDProperty            string     `json:"idProperty,omitempty"`
}

// MarshalJSON sends empty lists as [] rather than null.
func (in BatchReadInput) MarshalJSON() ([]byte, error) {
	type plain BatchReadInput
	p := plain(in)
	if p.Inputs == nil {
		p.Inputs = []ObjectID{}
	}
	if p.Properties == nil {
		p.Properties = []string{}
	}
	if p.PropertiesWithHistory == nil {
		p.PropertiesWithHistory = []string{}
	}
	return json.Marshal(p)
}

// Object is a CRM record as HubSpot returns it. A property that is defined
// but empty comes back as JSON null and decodes to "".
type Object struct {
	ID                 string                     `json:"id"`
	Properties         map[string]string          `json:"properties"`
	CreatedAt          time.Time                  `json:"createdAt"`
	UpdatedAt          time.Time                  `json:"updatedAt"`
	Archived           bool                       `json:"archived"`
	ArchivedAt         *time.Time                 `json:"archivedAt,omitempty"`
	Associations       map[string]AssociationList `json:"associations,omitempty"`
	ObjectWriteTraceID string                     `json:"objectWriteTraceId,omitempty"`
	// New is set by batch/upsert: true when the upsert created the record.
	New *bool `json:"new,omitempty"`
}

// AssociationList is one object type's entry under Object.Associations.
type AssociationList struct {
	Results []AssociatedID `json:"results"`
	Paging  *Paging        `json:"paging,omitempty"`
}

// AssociatedID is one associated record: its id and the association type
// label (e.g. "communication_to_contact").
type AssociatedID struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Paging is HubSpot's paging block; Next is nil on the last page.
type Paging struct {
	Next *NextPage `json:"next,omitempty"`
}

// NextPage holds the cursor for the next page.
type NextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

// BatchResult is the response of every batch object endpoint (201, 200 or
// 207). NumErrors counts error entries, not failed inputs.
type BatchResult struct {
	Status      string          `json:"status"`
	Results     []Object        `json:"results"`
	NumErrors   int             `json:"numErrors,omitempty"`
	Errors      []StandardError `json:"errors,omitempty"`
	StartedAt   time.Time       `json:"startedAt"`
	CompletedAt time.Time       `json:"completedAt"`
}

// StandardError is one entry of a batch response's errors[]. Status is the
// string "error", not an HTTP status. Message may echo property values.
type StandardError struct {
	Status      string              `json:"status"`
	ID          string              `json:"id,omitempty"`
	Category    string              `json:"category"`
	SubCategory string              `json:"subCategory,omitempty"`
	Message     string              `json:"message"`
	Context     map[string][]string `json:"context,omitempty"`
	Errors      []ErrorDetail       `json:"errors,omitempty"`
	Links       map[string]string   `json:"links,omitempty"`
}

// ErrorDetail is one entry of an error's errors[], typically one per
// rejected property (Context["propertyName"]).
type ErrorDetail struct {
	Message     string              `json:"message"`
	In          string              `json:"in,omitempty"`
	Code        string              `json:"code,omitempty"`
	SubCategory string              `json:"subCategory,omitempty"`
	Context     map[string][]string `json:"context,omitempty"`
}

// SearchRequest is the body of POST /crm/v3/objects/{type}/search.
type SearchRequest struct {
	FilterGroups []FilterGroup `json:"filterGroups,omitempty"`
	Sorts        []Sort        `json:"sorts,omitempty"`
	Properties   []string      `json:"properties,omitempty"`
	Limit        int           `json:"limit,omitempty"`
	After        string        `json:"after,omitempty"`
	Query        string        `json:"query,omitempty"`
}

// FilterGroup ANDs its filters; groups are ORed.
type FilterGroup struct {
	Filters []Filter `json:"filters"`
}

// Filter is one search condition. Operators: EQ, NEQ, LT, LTE, GT, GTE,
// BETWEEN (Value, HighValue), IN, NOT_IN (Values), HAS_PROPERTY,
// NOT_HAS_PROPERTY (no value), CONTAINS_TOKEN, NOT_CONTAINS_TOKEN.
type Filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	HighValue    string   `json:"highValue,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// Sort orders search results; Direction is ASCENDING or DESCENDING.
type Sort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// SearchResult is one page of search results. After is the cursor of the
// next page, "" on the last one; on the wire it is paging.next.after.
type SearchResult struct {
	Total   int
	Results []Object
	After   string
}

type searchWire struct {
	Total   int      `json:"total"`
	Results []Object `json:"results"`
	Paging  *Paging  `json:"paging,omitempty"`
}

// MarshalJSON writes HubSpot's shape (paging.next.after), for the sandbox.
func (r SearchResult) MarshalJSON() ([]byte, error) {
	w := searchWire{Total: r.Total, Results: r.Results, Paging: pagingFor(r.After)}
	if w.Results == nil {
		w.Results = []Object{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads HubSpot's shape.
func (r *SearchResult) UnmarshalJSON(b []byte) error {
	var w searchWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = SearchResult{Total: w.Total, Results: w.Results, After: afterOf(w.Paging)}
	return nil
}

// GetOptions shapes a single-object read.
type GetOptions struct {
	Properties   []string
	Associations []string
	Archived     bool
	IDProperty   string
}

// ListOptions shapes one page of a list.
type ListOptions struct {
	Limit        int // HubSpot default 10, max 100
	After        string
	Properties   []string
	Associations []string
	Archived     bool
}

// Page is one page of a list; After is "" on the last page.
type Page struct {
	Results []Object
	After   string
}

type pageWire struct {
	Results []Object `json:"results"`
	Paging  *Paging  `json:"paging,omitempty"`
}

// MarshalJSON writes HubSpot's shape (paging.next.after), for the sandbox.
func (p Page) MarshalJSON() ([]byte, error) {
	w := pageWire{Results: p.Results, Paging: pagingFor(p.After)}
	if w.Results == nil {
		w.Results = []Object{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads HubSpot's shape.
func (p *Page) UnmarshalJSON(b []byte) error {
	var w pageWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Page{Results: w.Results, After: afterOf(w.Paging)}
	return nil
}

func pagingFor(after string) *Paging {
	if after == "" {
		return nil
	}
	return &Paging{Next: &NextPage{After: after}}
}

func afterOf(p *Paging) string {
	if p == nil || p.Next == nil {
		return ""
	}
	return p.Next.After
}

// AssociationPair is one association to create or remove through the v4
// batch endpoints. Empty Types means the default type between the two
// object types (see DefaultAssociationTypeID).
type AssociationPair struct {
	FromID string
	ToID   string
	Types  []AssociationType
}

// AssociationLabels is one result of v4 associations batch/create.
type AssociationLabels struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     string   `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       string   `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

// AssociationBatchResult is the response of v4 associations batch/create.
type AssociationBatchResult struct {
	Status      string              `json:"status,omitempty"`
	Results     []AssociationLabels `json:"results"`
	NumErrors   int                 `json:"numErrors,omitempty"`
	Errors      []StandardError     `json:"errors,omitempty"`
	StartedAt   time.Time           `json:"startedAt"`
	CompletedAt time.Time           `json:"completedAt"`
}

// Property is one property definition.
type Property struct {
	Name                 string               `json:"name"`
	Label                string               `json:"label"`
	Type                 string               `json:"type"`
	FieldType            string               `json:"fieldType"`
	GroupName            string               `json:"groupName"`
	Description          string               `json:"description"`
	Options              []PropertyOption     `json:"options"`
	HasUniqueValue       bool                 `json:"hasUniqueValue"`
	Calculated           bool                 `json:"calculated"`
	HubspotDefined       bool                 `json:"hubspotDefined"`
	ModificationMetadata ModificationMetadata `json:"modificationMetadata"`
}

// ModificationMetadata says what may be done with a property.
type ModificationMetadata struct {
	ReadOnlyValue      bool `json:"readOnlyValue"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	Archivable         bool `json:"archivable"`
}

// PropertyOption is one allowed value of an enumeration property.
type PropertyOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// PropertyCreate is the body of POST /crm/v3/properties/{objectType}.
type PropertyCreate struct {
	Name           string           `json:"name"`
	Label          string           `json:"label"`
	Type           string           `json:"type"`
	FieldType      string           `json:"fieldType"`
	GroupName      string           `json:"groupName"`
	Description    string           `json:"description,omitempty"`
	HasUniqueValue bool             `json:"hasUniqueValue,omitempty"`
	Options        []PropertyOption `json:"options,omitempty"`
}

// Owner is one HubSpot owner (the id goes in hubspot_owner_id; UserID does not).
type Owner struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	UserID    int    `json:"userId"`
	Archived  bool   `json:"archived"`
}

// UnmarshalJSON accepts object ids as strings (HubSpot's spec) or as
// numbers (some v4 association responses and emulators send int64s).
func (a *AssociationLabels) UnmarshalJSON(b []byte) error {
	var w struct {
		FromObjectTypeID string   `json:"fromObjectTypeId"`
		FromObjectID     flexID   `json:"fromObjectId"`
		ToObjectTypeID   string   `json:"toObjectTypeId"`
		ToObjectID       flexID   `json:"toObjectId"`
		Labels           []string `json:"labels"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = AssociationLabels{FromObjectTypeID: w.FromObjectTypeID, FromObjectID: string(w.FromObjectID),
		ToObjectTypeID: w.ToObjectTypeID, ToObjectID: string(w.ToObjectID), Labels: w.Labels}
	return nil
}

// flexID decodes a JSON string or number into its decimal text.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexID(n.String())
	return nil
}
