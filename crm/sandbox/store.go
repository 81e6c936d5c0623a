package sandbox

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"
)

// object is one stored CRM record. All fields are guarded by store.mu.
type object struct {
	id         uint64
	props      map[string]string
	created    time.Time
	updated    time.Time
	archived   bool
	archivedAt time.Time
	// assoc: to-type name → to-id → association type ids.
	assoc map[string]map[uint64][]int
	// indexed is what search sees while the latest write is still inside
	// the index lag (nil: the record was not searchable before). Once the
	// lag has passed nothing reads it, and store.sweep drops it.
	indexed *searchView
}

type searchView struct {
	props    map[string]string
	archived bool
	updated  time.Time
}

// table holds the records and property definitions of one object type.
type table struct {
	typ   *objectType
	byID  map[uint64]*object
	order []uint64 // every id ever created, ascending (ids only grow)
	props map[string]*propertyDef
	// propOrder keeps GET /properties stable: built-ins first, then custom
	// ones in creation order.
	propOrder []string
	// unique: property → value → id, for hasUniqueValue properties, over
	// records that are not archived.
	unique map[string]map[string]uint64
	// eq: property → equality index, narrowing EQ and IN searches (see
	// eqIndex), eqs the same in a slice for writes to walk; eqCap is the
	// most records one value's posting lists.
	eq    map[string]*eqIndex
	eqs   []*eqIndex
	eqCap int
	// ranges: property → range index, narrowing range searches (see
	// rangeIndex), rangeList the same in a slice.
	ranges    map[string]*rangeIndex
	rangeList []*rangeIndex
	// groups are the property groups, built-in first, in creation order.
	groups     map[string]*propertyGroup
	groupOrder []string
}

// store is the sandbox's state. The server serialises access with its own
// lock; store itself does no locking.
type store struct {
	now    func() time.Time
	lag    time.Duration
	nextID uint64
	tables map[string]*table
	// pending collects the write-ahead-log operations of the request being
	// handled; the server writes them as one line before answering.
	pending []walOp
	// expiring lists, in write order, the records written while an older
	// version stayed visible to search (object.indexed), with the time
	// their write is indexed; sweep drops those views once it has come.
	expiring []expiry
}

type expiry struct {
	tb *table
	id uint64
	at time.Time // the write's time plus the lag
}

// firstID makes ids look like HubSpot's (11-digit numbers).
const firstID = 50000000001

func newStore(now func() time.Time, lag time.Duration) *store {
	st := &store{now: now, lag: lag}
	st.clear()
	return st
}

func (st *store) clear() {
	st.nextID = firstID
	st.expiring = nil
	st.tables = make(map[string]*table, len(objectTypes))
	for _, t := range objectTypes {
		tb := &table{typ: t, byID: map[uint64]*object{}, props: map[string]*propertyDef{}, unique: map[string]map[string]uint64{},
			groups: map[string]*propertyGroup{}, eq: map[string]*eqIndex{}, eqCap: defaultEqCap,
			ranges: map[string]*rangeIndex{}}
		tb.addGroup(builtinGroup(t))
		for _, p := range builtinProperties(t.name) {
			tb.addProp(p)
		}
		st.tables[t.name] = tb
	}
}

func (tb *table) addGroup(g propertyGroup) {
	if _, ok := tb.groups[g.Name]; !ok {
		tb.groupOrder = append(tb.groupOrder, g.Name)
	}
	tb.groups[g.Name] = &g
}

func (tb *table) addProp(p propertyDef) {
	if _, ok := tb.props[p.Name]; !ok {
		tb.propOrder = append(tb.propOrder, p.Name)
	}
	cp := p
	tb.props[p.Name] = &cp
	if uniqueEnforced(tb.typ.name, &cp) && tb.unique[p.Name] == nil {
		idx := map[string]uint64{}
		for id, o := range tb.byID {
			if v, ok := o.props[p.Name]; ok && !o.archived {
				idx[v] = id
			}
		}
		tb.unique[p.Name] = idx
	}
	tb.buildEq(p.Name)
	tb.buildRange(p.Name)
}

func (st *store) table(name string) *table { return st.tables[name] }

func parseID(s string) (uint64, bool) {
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

func idString(id uint64) string { return strconv.FormatUint(id, 10) }

// get returns the record with id; archived selects which side it must be on.
func (tb *table) get(id string, archived bool) *object {
	n, ok := parseID(id)
	if !ok {
		return nil
	}
	o := tb.byID[n]
	if o == nil || o.archived != archived {
		return nil
	}
	return o
}

// byUnique finds a live record by the value of a unique property.
func (tb *table) byUnique(prop, value string) *object {
	idx := tb.unique[prop]
	if idx == nil {
		return nil
	}
	if id, ok := idx[value]; ok {
		return tb.byID[id]
	}
	return nil
}

// systemProps are computed from the record, never stored: every record
// answers them, and writes to them are ignored.
func (tb *table) systemValue(o *object, updated time.Time, name string) (string, bool) {
	switch name {
	case "hs_object_id":
		return idString(o.id), true
	case "hs_createdate":
		return formatTime(o.created), true
	case "hs_lastmodifieddate":
		return formatTime(updated), true
	case "createdate":
		if _, ok := tb.props[name]; ok {
			return formatTime(o.created), true
		}
	case "lastmodifieddate":
		if _, ok := tb.props[name]; ok {
			return formatTime(updated), true
		}
	}
	return "", false
}

// value returns a property of o as stored now.
func (tb *table) value(o *object, name string) (string, bool) {
	if v, ok := tb.systemValue(o, o.updated, name); ok {
		return v, true
	}
	v, ok := o.props[name]
	return v, ok
}

// beforeWrite remembers the version search still sees. A record whose
// last write is already indexed keeps that version visible until the new
// write is indexed too; one whose last write is still pending keeps the
// older indexed version.
func (st *store) beforeWrite(o *object, now time.Time) {
	if st.lag <= 0 {
		return
	}
	if !now.Before(o.updated.Add(st.lag)) {
		o.indexed = &searchView{props: maps.Clone(o.props), archived: o.archived, updated: o.updated}
	}
}

// sweep drops the older views (object.indexed) of the records whose
// last write search sees by now: searchable no longer reads them, and the
// equality and range indexes would go on naming the record under their
// values. Each write sweeps, holding the write lock; a view is listed
// once per write that kept it, so the sweep costs each write O(1)
// amortised, and the views left between writes are those of the last
// lag's writes. The clock
// is taken not to run backwards: a record swept and then looked at before
// its write's time plus the lag would read as never searchable.
func (st *store) sweep(now time.Time) {
	n := 0
	for ; n < len(st.expiring) && !now.Before(st.expiring[n].at); n++ {
		e := st.expiring[n]
		o := e.tb.byID[e.id]
		// A later write of o listed it again, further on.
		if o == nil || o.indexed == nil || now.Before(o.updated.Add(st.lag)) {
			continue
		}
		e.tb.searchRecords(o, false)
		o.indexed = nil
		e.tb.searchRecords(o, true)
	}
	st.expiring = st.expiring[n:]
}

// afterWrite lists o for sweep when search still sees an older version.
func (st *store) afterWrite(tb *table, o *object) {
	if o.indexed != nil {
		st.expiring = append(st.expiring, expiry{tb: tb, id: o.id, at: o.updated.Add(st.lag)})
	}
}

// searchable returns the version of o search sees at now: its properties,
// its modification time, and whether search sees it at all.
func (st *store) searchable(o *object, now time.Time) (map[string]string, time.Time, bool) {
	if st.lag <= 0 || !now.Before(o.updated.Add(st.lag)) {
		return o.props, o.updated, !o.archived
	}
	if o.indexed == nil {
		return nil, time.Time{}, false
	}
	return o.indexed.props, o.indexed.updated, !o.indexed.archived
}

// create inserts a record with already-validated properties.
func (st *store) create(tb *table, props map[string]string) *object {
	now := st.now().UTC().Truncate(time.Millisecond)
	st.sweep(now)
	o := &object{id: st.nextID, props: props, created: now, updated: now}
	st.nextID++
	if o.props == nil {
		o.props = map[string]string{}
	}
	for k, v := range o.props {
		if v == "" {
			delete(o.props, k)
		}
	}
	tb.byID[o.id] = o
	tb.order = append(tb.order, o.id)
	tb.index(o)
	st.logPut(tb, o)
	return o
}

// update applies validated changes: "" clears a property.
func (st *store) update(tb *table, o *object, changes map[string]string) {
	now := st.now().UTC().Truncate(time.Millisecond)
	st.sweep(now)
	tb.unindex(o) // before beforeWrite: the equality and range indexes hold o.indexed too
	st.beforeWrite(o, now)
	for k, v := range changes {
		if v == "" {
			delete(o.props, k)
		} else {
			o.props[k] = v
		}
	}
	o.updated = now
	tb.index(o)
	st.afterWrite(tb, o)
	st.logPut(tb, o)
}

func (st *store) archive(tb *table, o *object) {
	if o.archived {
		return
	}
	now := st.now().UTC().Truncate(time.Millisecond)
	st.sweep(now)
	tb.unindex(o)
	st.beforeWrite(o, now)
	o.archived = true
	o.archivedAt = now
	o.updated = now
	tb.index(o) // search may still see the version before the archive
	st.afterWrite(tb, o)
	st.logPut(tb, o)
}

// searchRecords adds o to (or removes it from) the indexes that narrow
// searches: the equality and range indexes.
func (tb *table) searchRecords(o *object, add bool) {
	tb.eqRecords(o, add)
	for _, ix := range tb.rangeList {
		tb.rangeRecord(ix, o, add)
	}
}

// index adds o to the unique, equality and range indexes; unindex removes it.
// They bracket every change to o.props, o.archived and o.indexed.
func (tb *table) index(o *object) {
	tb.searchRecords(o, true)
	if o.archived {
		return
	}
	for p, idx := range tb.unique {
		if v, ok := o.props[p]; ok {
			idx[v] = o.id
		}
	}
}

func (tb *table) unindex(o *object) {
	tb.searchRecords(o, false)
	for p, idx := range tb.unique {
		if v, ok := o.props[p]; ok && idx[v] == o.id {
			delete(idx, v)
		}
	}
}

// associate links two records both ways with the type and its reverse.
func (st *store) associate(a assocType, from, to *object) {
	addAssoc(from, a.to, to.id, a.id)
	addAssoc(to, a.from, from.id, reverseAssoc(a).id)
	st.pending = append(st.pending, walOp{Op: "assoc", T: a.from, ID: from.id, ToID: to.id, Assoc: a.id})
}

func addAssoc(o *object, toType string, toID uint64, typeID int) {
	if o.assoc == nil {
		o.assoc = map[string]map[uint64][]int{}
	}
	m := o.assoc[toType]
	if m == nil {
		m = map[uint64][]int{}
		o.assoc[toType] = m
	}
	if !slices.Contains(m[toID], typeID) {
		m[toID] = append(m[toID], typeID)
	}
}

// unassociate removes the association in both directions; typeID 0 removes
// every type between the pair.
func (st *store) unassociate(a assocType, from, to *object, all bool) {
	removeAssoc(from, a.to, to.id, a.id, all)
	removeAssoc(to, a.from, from.id, reverseAssoc(a).id, all)
	st.pending = append(st.pending, walOp{Op: "unassoc", T: a.from, ID: from.id, ToID: to.id, Assoc: a.id, All: all})
}

func removeAssoc(o *object, toType string, toID uint64, typeID int, all bool) {
	m := o.assoc[toType]
	if m == nil {
		return
	}
	if all {
		delete(m, toID)
		return
	}
	m[toID] = slices.DeleteFunc(m[toID], func(t int) bool { return t == typeID })
	if len(m[toID]) == 0 {
		delete(m, toID)
	}
}

// associatedIDs lists the ids o is associated with in toType, ascending.
func associatedIDs(o *object, toType string) []uint64 {
	ids := make([]uint64, 0, len(o.assoc[toType]))
	for id := range o.assoc[toType] {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (st *store) logPut(tb *table, o *object) {
	st.pending = append(st.pending, walOp{Op: "put", T: tb.typ.name, Obj: &walObject{
		ID: o.id, Props: o.props, Created: o.created.UnixMilli(), Updated: o.updated.UnixMilli(),
		Archived: o.archived, ArchivedAt: o.archivedAt.UnixMilli(),
	}})
}

// apply replays one logged operation (from the write-ahead log or a
// snapshot). Every operation sets absolute state, so replaying an
// operation twice is harmless.
func (st *store) apply(op walOp) {
	switch op.Op {
	case "reset":
		st.clear()
	case "group":
		if tb := st.tables[op.T]; tb != nil && op.Group != nil {
			tb.addGroup(*op.Group)
		}
	case "prop":
		if tb := st.tables[op.T]; tb != nil && op.Prop != nil {
			tb.addProp(*op.Prop)
		}
	case "put":
		tb := st.tables[op.T]
		if tb == nil || op.Obj == nil {
			return
		}
		w := op.Obj
		o := tb.byID[w.ID]
		if o == nil {
			o = &object{id: w.ID}
			tb.byID[w.ID] = o
			i := sort.Search(len(tb.order), func(i int) bool { return tb.order[i] >= w.ID })
			tb.order = slices.Insert(tb.order, i, w.ID)
		} else {
			tb.unindex(o)
		}
		o.props = w.Props
		if o.props == nil {
			o.props = map[string]string{}
		}
		o.created = time.UnixMilli(w.Created).UTC()
		o.updated = time.UnixMilli(w.Updated).UTC()
		o.archived = w.Archived
		o.archivedAt = time.UnixMilli(w.ArchivedAt).UTC()
		o.indexed = nil
		tb.index(o)
		if w.ID >= st.nextID {
			st.nextID = w.ID + 1
		}
	case "assoc", "unassoc":
		a, ok := assocTypeByID(op.Assoc)
		if !ok {
			return
		}
		from, to := st.tables[a.from].byID[op.ID], st.tables[a.to].byID[op.ToID]
		if from == nil || to == nil {
			return
		}
		if op.Op == "assoc" {
			addAssoc(from, a.to, to.id, a.id)
			addAssoc(to, a.from, from.id, reverseAssoc(a).id)
		} else {
			removeAssoc(from, a.to, to.id, a.id, op.All)
			removeAssoc(to, a.from, from.id, reverseAssoc(a).id, op.All)
		}
	case "next":
		if op.ID > st.nextID {
			st.nextID = op.ID
		}
	}
}

// snapshot writes the whole state as operations that apply replays.
func (st *store) snapshot(emit func(walOp) error) error {
	if err := emit(walOp{Op: "reset"}); err != nil {
		return err
	}
	if err := emit(walOp{Op: "next", ID: st.nextID}); err != nil {
		return err
	}
	for _, t := range objectTypes {
		tb := st.tables[t.name]
		for _, name := range tb.groupOrder[1:] { // the first is built in
			if err := emit(walOp{Op: "group", T: t.name, Group: tb.groups[name]}); err != nil {
				return err
			}
		}
		for _, name := range tb.propOrder {
			if p := tb.props[name]; !p.HubspotDefined {
				if err := emit(walOp{Op: "prop", T: t.name, Prop: p}); err != nil {
					return err
				}
			}
		}
		for _, id := range tb.order {
			o := tb.byID[id]
			err := emit(walOp{Op: "put", T: t.name, Obj: &walObject{ID: o.id, Props: o.props,
				Created: o.created.UnixMilli(), Updated: o.updated.UnixMilli(), Archived: o.archived, ArchivedAt: o.archivedAt.UnixMilli()}})
			if err != nil {
				return err
			}
		}
	}
	// Associations once, from the side whose type is the "from" of a default type.
	for _, t := range objectTypes {
		for _, id := range st.tables[t.name].order {
			o := st.tables[t.name].byID[id]
			for toType, m := range o.assoc {
				for toID, types := range m {
					for _, ty := range types {
						a, ok := assocTypeByID(ty)
						if !ok || a.from != t.name || a.to != toType || a.id > reverseAssoc(a).id {
							continue
						}
						if err := emit(walOp{Op: "assoc", T: t.name, ID: id, ToID: toID, Assoc: ty}); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}
