package batch

// assocItem is one association to add or remove: communication → object.
type assocItem struct {
	toType string
	toID   string
	// typeID is the association type id; label is its snake-case name
	// when the input gave one that is not a known default.
	typeID int
	label  string
}
