// Package export writes communications out of HubSpot to CSV or JSONL: full
// exports through the list endpoint and gap-free incremental exports through
// search.
//
// Export is its own package rather than an operation of batch: it shares
// nothing with the import pipeline (no ledger, no mapping, no batcher), and
// depends on crm alone.
//
// # Full exports
//
// A full export pages GET /crm/v3/objects/communications (cursor paging has
// no 10,000-result cap) and, with Options.Archived, the archived records too.
//
// # Incremental exports
//
// With Options.State, a run exports what changed since the high-water mark
// kept in the state file: it searches hs_lastmodifieddate in
// [mark, run start − SafetyLag), ascending, and then lists the records
// archived in the same window (search never returns archived records, and
// deletions must reach the warehouse too). The upper bound is what makes the
// walk safe against HubSpot's search index lag: a change older than
// SafetyLag is assumed indexed.
//
// The walk never trusts an offset across a change in the result set: every
// page's total is compared with the window's first, and when it moved (a
// record was updated or archived mid-walk) or the next page would pass the
// 10,000-result cap, the window restarts at the last hs_lastmodifieddate
// seen, dropping the ids already written at that instant. When more records
// share one instant than one window can reach, they are walked by
// hs_object_id instead. The only state that grows is that set of ids at one
// instant; rows are streamed out page by page.
//
// The new mark is min(run start − SafetyLag, newest change seen). It is
// written (atomically) only after the output was completed and renamed into
// place, so a failed or interrupted run exports the same window again. A
// record whose change time equals the mark may be exported again by the
// next run: consumers keep the last row per id.
//
// The first run with a state file that does not exist yet is a full export
// (live and archived records, through the list endpoint) that then sets the
// mark.
package export
