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
	GroupName:   KeyPropertyGroup,
	Description: "Idempotency key written by commlog; do not edit.",
}

// KeyPropertyGroup is the property group commlog creates for its
// properties, as HubSpot advises integrations to do: it makes them easy to
// tell apart, and it does not depend on the name of a built-in group.
const KeyPropertyGroup = "commlog"

// PropertyGroup reads one property group; a missing group is a
// NotFound error.
func (c *Client) PropertyGroup(ctx context.Context, objectType, name string) (*PropertyGroup, error) {
	var out PropertyGroup
	if err := c.do(ctx, call{method: http.MethodGet, path: joinPath("crm", "v3", "properties", objectType, "groups", name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreatePropertyGroup creates a property group (POST
// /crm/v3/properties/{objectType}/groups). Retried like CreateProperty: an
// existing name is a 409, so a retry cannot create it twice.
func (c *Client) CreatePropertyGroup(ctx context.Context, objectType string, g PropertyGroup) (*PropertyGroup, error) {
	var out PropertyGroup
	body := struct {
		Name         string `json:"name"`
		Label        string `json:"label"`
		DisplayOrder int    `json:"displayOrder"`
	}{g.Name, g.Label, g.DisplayOrder}
	if err := c.do(ctx, call{method: http.MethodPost, path: joinPath("crm", "v3", "properties", objectType, "groups"), body: body, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnsureKeyProperty creates the string property commlog_key on
// communications if missing, in commlog's own property group (created
// first when missing). A 409 from a concurrent create counts as success.
func (c *Client) EnsureKeyProperty(ctx context.Context) error {
	props, err := c.Properties(ctx, Communications)
	if err != nil {
		return err
	}
	for _, p := range props {
		if p.Name == KeyProperty {
			if p.Type != "string" {
				return errors.New("crm: communications property " + KeyProperty + " exists with type " + p.Type + ", want string")
			}
			return nil
		}
	}
	if _, err := c.PropertyGroup(ctx, Communications, KeyPropertyGroup); IsNotFound(err) {
		g := PropertyGroup{Name: KeyPropertyGroup, Label: "commlog", DisplayOrder: -1}
		if _, err := c.CreatePropertyGroup(ctx, Communications, g); err != nil && !IsConflict(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := c.CreateProperty(ctx, Communications, keyPropertyDef); err != nil && !IsConflict(err) {
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
