// Package mapping turns input records into HubSpot communications through
// the user's YAML mapping file.
//
// Load (or Parse) reads the file strictly: unknown keys, wrong types,
// missing required keys, unknown time zones and invalid channel values are
// *LoadError values naming file:line:column and what would be valid. The
// compiled *Mapping then maps each source.Record with Apply into a Result:
// the idempotency key, the properties to send, the association targets
// (unresolved), a deliberate skip, or a *RowError naming file:line.
//
// Association targets given by e-mail, phone, LinkedIn URL or a unique
// property are resolved by an Index built once per run, never by one search
// per row.
//
// The full key reference is mapping/doc.md.
package mapping
