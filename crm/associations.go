package crm

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// defaultTypeIDs are HubSpot's unlabeled (HUBSPOT_DEFINED) association type
// ids from communications, and the reverses.
var defaultTypeIDs = map[[2]string]int{
	{Communications, Contacts}:  81,
	{Contacts, Communications}:  82,
	{Communications, Tickets}:   83,
	{Tickets, Communications}:   84,
	{Communications, Deals}:     85,
	{Deals, Communications}:     86,
	{Communications, Companies}: 87,
	{Companies, Communications}: 88,
}

// DefaultAssociationTypeID returns the HUBSPOT_DEFINED type id between two
// object types (communications→contacts 81, companies 87, deals 85,
// tickets 83, and the reverses 82, 88, 86, 84). Singular names
// ("contact") are accepted.
func DefaultAssociationTypeID(fromType, toType string) (int, bool) {
	id, ok := defaultTypeIDs[[2]string{pluralType(fromType), pluralType(toType)}]
	return id, ok
}

func pluralType(t string) string {
	t = strings.ToLower(t)
	switch t {
	case "communication", "contact", "company", "deal", "ticket":
		if t == "company" {
			return Companies
		}
		return t + "s"
	}
	return t
}

// Associate links two records (v3 PUT
// /crm/v3/objects/{from}/{id}/associations/{to}/{id}/{type}). assocType is a
// type id ("81") or a snake-case label ("communication_to_contact"), as the
// communications API accepts both. Associating twice is harmless.
func (c *Client) Associate(ctx context.Context, fromType, fromID, toType, toID, assocType string) error {
	return c.do(ctx, call{method: http.MethodPut, path: objectPath(fromType, fromID, "associations", toType, toID, assocType)})
}

// Unassociate removes one association (v3 DELETE on the same path).
func (c *Client) Unassociate(ctx context.Context, fromType, fromID, toType, toID, assocType string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: objectPath(fromType, fromID, "associations", toType, toID, assocType)})
}

type v4Pair struct {
	From  ObjectID          `json:"from"`
	To    ObjectID          `json:"to"`
	Types []AssociationType `json:"types"`
}

type v4Multi struct {
	From ObjectID   `json:"from"`
	To   []ObjectID `json:"to"`
}

func v4Path(fromType, toType string, op ...string) string {
	return joinPath(append([]string{"crm", "v4", "associations", fromType, toType, "batch"}, op...)...)
}

// BatchAssociate creates associations through v4 batch/create. A pair with
// no Types gets the default type between the two object types. Per-pair
// failures come back in the result's Errors (207). Creating an existing
// association is a no-op at HubSpot, so this call is retried like a read.
func (c *Client) BatchAssociate(ctx context.Context, fromType, toType string, pairs []AssociationPair) (*AssociationBatchResult, error) {
	in, err := v4Inputs(fromType, toType, pairs)
	if err != nil {
		return nil, err
	}
	var out AssociationBatchResult
	if err := c.do(ctx, call{method: http.MethodPost, path: v4Path(fromType, toType, "create"), body: batchInputs[v4Pair]{in}, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// BatchUnassociate removes associations through v4: pairs with Types lose
// just those types (batch/labels/archive); pairs without lose every
// association between the two records (batch/archive).
func (c *Client) BatchUnassociate(ctx context.Context, fromType, toType string, pairs []AssociationPair) error {
	var labeled []v4Pair
	var all []v4Multi
	idx := map[string]int{}
	for _, p := range pairs {
		if len(p.Types) > 0 {
			labeled = append(labeled, v4Pair{From: ObjectID{p.FromID}, To: ObjectID{p.ToID}, Types: p.Types})
			continue
		}
		i, ok := idx[p.FromID]
		if !ok {
			i = len(all)
			idx[p.FromID] = i
			all = append(all, v4Multi{From: ObjectID{p.FromID}})
		}
		all[i].To = append(all[i].To, ObjectID{p.ToID})
	}
	if len(all) > 0 {
		if err := c.do(ctx, call{method: http.MethodPost, path: v4Path(fromType, toType, "archive"), body: batchInputs[v4Multi]{all}}); err != nil {
			return err
		}
	}
	if len(labeled) > 0 {
		return c.do(ctx, call{method: http.MethodPost, path: v4Path(fromType, toType, "labels", "archive"), body: batchInputs[v4Pair]{labeled}})
	}
	return nil
}

func v4Inputs(fromType, toType string, pairs []AssociationPair) ([]v4Pair, error) {
	in := make([]v4Pair, len(pairs))
	for i, p := range pairs {
		types := p.Types
		if len(types) == 0 {
			id, ok := DefaultAssociationTypeID(fromType, toType)
			if !ok {
				return nil, fmt.Errorf("crm: no default association type from %s to %s; give the pair's Types", fromType, toType)
			}
			types = []AssociationType{{Category: HubSpotDefined, TypeID: id}}
		}
		in[i] = v4Pair{From: ObjectID{p.FromID}, To: ObjectID{p.ToID}, Types: types}
	}
	return in, nil
}
