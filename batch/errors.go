// Package batch runs commlog's operations on many records: the ledgered,
// resumable import pipeline and the operations built on the same machine
// (update, archive, restore, associate, pin, verify, export).
package batch

import "errors"

// Outcome errors. An operation that finished but did not end with every row
// done returns one of these (wrapped with counts); cmd/commlog maps them to
// exit codes in one place.
var (
	// ErrRowsFailed: the run finished; some rows failed, were invalid or unresolved.
	ErrRowsFailed = errors.New("some rows failed")
	// ErrInDoubt: the run finished; some rows may or may not exist in HubSpot.
	// Running the same command again reconciles them.
	ErrInDoubt = errors.New("some rows are in doubt")
	// ErrStopped: the run stopped early (interrupt, --max-duration, daily
	// reserve, --max-errors) and can be resumed by running it again.
	ErrStopped = errors.New("stopped early")
	// ErrRefused: a safety check refused the operation; nothing was changed.
	ErrRefused = errors.New("refused by a safety check")
)
