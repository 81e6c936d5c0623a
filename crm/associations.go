package crm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
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

// MaxAssociationReadInputs is how many records one v4 associations
// batch/read accepts (1,000 since 2025-02-10, HubSpot changelog "bug fix:
// batch read limit for HubSpot associations API").
const MaxAssociationReadInputs = 1000

// NoAssociationsFound is the subCategory HubSpot gives the errors[] entry
// of a from-record with no associations of the asked type (category
// OBJECT_NOT_FOUND, 207); records that do not exist get the same answer.
const NoAssociationsFound = "crm.associations.NO_ASSOCIATIONS_FOUND"

// v4ReadInput is one input of v4 batch/read (PublicFetchAssociationsBatchRequest):
// After asks for the next page of one record's associations.
type v4ReadInput struct {
	ID    string `json:"id"`
	After string `json:"after,omitempty"`
}

// v4ReadResult is BatchResponsePublicAssociationMultiWithLabel(WithErrors).
// The spec types ids as strings; HubSpot's Node client and some responses
// have numbers, so both are accepted.
type v4ReadResult struct {
	Status  string `json:"status"`
	Results []struct {
		From struct {
			ID flexID `json:"id"`
		} `json:"from"`
		To []struct {
			ToObjectID       flexID `json:"toObjectId"`
			AssociationTypes []struct {
				Category string `json:"category"`
				TypeID   int    `json:"typeId"`
			} `json:"associationTypes"`
		} `json:"to"`
		Paging *Paging `json:"paging,omitempty"`
	} `json:"results"`
	NumErrors int             `json:"numErrors,omitempty"`
	Errors    []StandardError `json:"errors,omitempty"`
}

// BatchReadAssociations reads the associations from each of ids to toType
// through v4 POST /crm/v4/associations/{from}/{to}/batch/read, 1,000 ids a
// request, following each record's paging.next.after until it is read
// whole. The map holds one AssociatedID per associated record and type,
// like the associations of a v3 read: Type is the v3 name of a default
// type ("communication_to_contact"), else the type id in decimal.
//
// Ids with no associations, and ids that do not exist, are simply absent
// from the map: HubSpot answers both with an OBJECT_NOT_FOUND entry in a
// 207's errors[]. An errors[] entry of any other category is returned as
// an error, so that a partial answer is never taken for the whole one.
// It is a read: retried like one.
func (c *Client) BatchReadAssociations(ctx context.Context, fromType, toType string, ids []string) (map[string][]AssociatedID, error) {
	out := make(map[string][]AssociatedID)
	seen := make(map[string]bool, len(ids))
	var inputs []v4ReadInput
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			inputs = append(inputs, v4ReadInput{ID: id})
		}
	}
	path := v4Path(fromType, toType, "read")
	asked := map[v4ReadInput]bool{}
	for len(inputs) > 0 {
		chunk := inputs[:min(MaxAssociationReadInputs, len(inputs))]
		inputs = inputs[len(chunk):]
		for _, in := range chunk {
			asked[in] = true
		}
		var res v4ReadResult
		if err := c.do(ctx, call{method: http.MethodPost, path: path, body: batchInputs[v4ReadInput]{chunk}, out: &res}); err != nil {
			return nil, err
		}
		for _, e := range res.Errors {
			if e.Category != "OBJECT_NOT_FOUND" {
				msg := e.Message
				if !c.logPII {
					msg = redactedMessage(msg, e.Errors)
				}
				return nil, fmt.Errorf("POST %s: %d of %d records not read: %s: %s", path, max(res.NumErrors, len(res.Errors)), len(chunk), e.Category, msg)
			}
		}
		for _, r := range res.Results {
			from := string(r.From.ID)
			if !seen[from] {
				return nil, fmt.Errorf("POST %s: HubSpot answered for record %s, which was not asked for", path, from)
			}
			for _, to := range r.To {
				for _, t := range to.AssociationTypes {
					out[from] = append(out[from], AssociatedID{ID: string(to.ToObjectID), Type: associationTypeName(fromType, toType, t.Category, t.TypeID)})
				}
			}
			if after := afterOf(r.Paging); after != "" {
				next := v4ReadInput{ID: from, After: after}
				if asked[next] {
					return nil, fmt.Errorf("POST %s: HubSpot returned the cursor %q for record %s twice", path, after, from)
				}
				inputs = append(inputs, next)
			}
		}
	}
	return out, nil
}

// associationTypeName names a type as v3 reads do: "communication_to_contact"
// for a default type, the type id in decimal otherwise.
func associationTypeName(fromType, toType, category string, typeID int) string {
	from, to := pluralType(fromType), pluralType(toType)
	if id, ok := defaultTypeIDs[[2]string{from, to}]; ok && id == typeID && (category == "" || category == HubSpotDefined) {
		return singularType(from) + "_to_" + singularType(to)
	}
	return strconv.Itoa(typeID)
}

func singularType(plural string) string {
	if plural == Companies {
		return "company"
	}
	return strings.TrimSuffix(plural, "s")
}
