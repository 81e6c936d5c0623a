package crm

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// Properties reads every property definition of an object type.
func (c *Client) Properties(ctx context.Context, objectType string) ([]Property, error) {
	var out struct {
		Results []Property `json:"results"`
	}
	if err := c.do(ctx, call{method: http.MethodGet, path: joinPath("crm", "v3", "properties", objectType), out: &out}); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// CreateProperty defines a new property. HubSpot answers 409 when the name
// exists, so a retry after a lost response cannot define it twice; the
// call is therefore retried like an idempotent one (and may then report
// the 409 its own first attempt caused).
func (c *Client) CreateProperty(ctx context.Context, objectType string, p PropertyCreate) (*Property, error) {
	var out Property
	if err := c.do(ctx, call{method: http.MethodPost, path: joinPath("crm", "v3", "properties", objectType), body: p, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// keyPropertyDef is the definition of commlog_key. Not unique: HubSpot's
// support for hasUniqueValue on communications is unconfirmed, and
// reconciliation searches the property instead.
var keyPropertyDef = PropertyCreate{
	Name:        KeyProperty,
	Label:       "commlog key",
	Type:        "string",
	FieldType:   "text",
	Description: "Idempotency key written by commlog; do not edit.",
}

// EnsureKeyProperty creates the string property commlog_key on
// communications if missing, in the group HubSpot's own communication
// properties are in (read from the same answer that says whether the
// property exists, so a portal's first import costs one round trip more
// and later ones none). A 409 from a concurrent create counts as success.
func (c *Client) EnsureKeyProperty(ctx context.Context) error {
	props, err := c.Properties(ctx, Communications)
	if err != nil {
		return err
	}
	group := ""
	for _, p := range props {
		if p.Name == KeyProperty {
			if p.Type != "string" {
				return errors.New("crm: communications property " + KeyProperty + " exists with type " + p.Type + ", want string")
			}
			return nil
		}
		if group == "" && p.HubspotDefined && p.GroupName != "" && (p.Name == "hs_communication_body" || p.Name == "hs_timestamp") {
			group = p.GroupName
		}
	}
	if group == "" {
		return errors.New("crm: cannot tell which property group communications use: hs_communication_body and hs_timestamp are missing from GET /crm/v3/properties/communications")
	}
	def := keyPropertyDef
	def.GroupName = group
	if _, err := c.CreateProperty(ctx, Communications, def); err != nil && !IsConflict(err) {
		return err
	}
	return nil
}

// Owners lists every active owner (GET /crm/v3/owners, paged by after).
func (c *Client) Owners(ctx context.Context) ([]Owner, error) {
	var all []Owner
	after := ""
	for {
		v := url.Values{"limit": {strconv.Itoa(500)}}
		if after != "" {
			v.Set("after", after)
		}
		var out struct {
			Results []Owner `json:"results"`
			Paging  *Paging `json:"paging"`
		}
		if err := c.do(ctx, call{method: http.MethodGet, path: joinPath("crm", "v3", "owners"), query: v, out: &out}); err != nil {
			return nil, err
		}
		all = append(all, out.Results...)
		next := afterOf(out.Paging)
		if next == "" || next == after {
			return all, nil
		}
		after = next
	}
}

// PinnedEngagementProperty is the record property that pins an activity.
const PinnedEngagementProperty = "hs_pinned_engagement_id"

// Pin pins a communication on a contact, company, deal or ticket timeline by
// PATCHing the record's hs_pinned_engagement_id. The communication must
// already be associated with the record.
func (c *Client) Pin(ctx context.Context, objectType, objectID, communicationID string) error {
	_, err := c.Update(ctx, objectType, objectID, map[string]string{PinnedEngagementProperty: communicationID})
	return err
}
