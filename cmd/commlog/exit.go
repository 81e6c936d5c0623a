package main

import (
	"context"
	"errors"

	"github.com/commlog/commlog/batch"
)

// Exit codes. This is the only place that decides them; the README's table
// mirrors it and exit_test.go holds both to it.
const (
	exitOK        = 0 // every row done
	exitFatal     = 1 // configuration, authentication or I/O failure
	exitUsage     = 2 // bad flags or arguments
	exitRowsNotOK = 3 // finished, some rows failed, invalid or unresolved
	exitInDoubt   = 4 // finished, some rows in doubt: run again to reconcile
	exitStopped   = 5 // stopped early, resumable
	exitRefused   = 6 // refused by a safety check
)

// usageError marks a mistake in how commlog was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{err: errorf(format, args...)}
}

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, batch.ErrRefused):
		return exitRefused
	case errors.Is(err, batch.ErrStopped), errors.Is(err, context.Canceled):
		return exitStopped
	case errors.Is(err, batch.ErrInDoubt):
		return exitInDoubt
	case errors.Is(err, batch.ErrRowsFailed):
		return exitRowsNotOK
	default:
		return exitFatal
	}
}
