// Package source reads exported chat logs (CSV, JSONL, WhatsApp, LinkedIn,
// SMS Backup XML, Twilio) as a stream of Records that all look alike, each
// carrying the file and line it came from. Readers never hold a whole file in
// memory.
package source

import (
	"errors"
	"fmt"
	"io"
)

// Record is one row or message of an input file, whatever its format.
//
// Names and Values are parallel: Values[i] is the value of column Names[i],
// in input order. Readers reuse one Names slice for every record of the same
// shape (a CSV header, say), so consumers may cache a column plan keyed on
// &Names[0]; nobody may modify Names. Values belongs to the record.
//
// Chat formats (whatsapp, linkedin, sms-xml, twilio) add the normalised
// fields named by the Field* constants, usable in mappings by those names.
type Record struct {
	File   string // path as given by the user
	Line   int    // 1-based line where the record starts (element line for XML)
	Offset int64  // byte offset of the record's start, where the reader knows it; -1 for transcoded input
	Names  []string
	Values []string
	// Err is a row-level problem (ragged CSV row, bad JSON line, undecodable
	// bytes). The record is still yielded so the row lands in the ledger as
	// invalid; Names/Values hold whatever could be read.
	Err error
}

// Normalised field names that chat readers fill in.
const (
	FieldConversationID    = "conversation_id"
	FieldConversationTitle = "conversation_title"
	FieldSender            = "sender"
	FieldSenderID          = "sender_id"   // phone (E.164 where known) or profile URL
	FieldRecipients        = "recipients"  // ";"-separated handles
	FieldCounterpart       = "counterpart" // the other party's handle (";"-separated in groups)
	FieldDirection         = "direction"   // inbound | outbound | unknown
	FieldSentAt            = "sent_at"     // the timestamp as written in the file
	FieldTime              = "time"        // RFC 3339 with offset, when the format carries one
	FieldLocalTime         = "local_time"  // "2006-01-02T15:04:05" wall clock, when it carries no offset
	FieldText              = "text"        // message text, placeholders stripped
	FieldAttachments       = "attachments" // ";"-separated file names
	FieldKind              = "kind"        // message | system | media | deleted
	FieldChannel           = "channel"     // WHATS_APP | LINKEDIN_MESSAGE | SMS
)

// Kinds of chat record.
const (
	KindMessage = "message"
	KindSystem  = "system"
	KindMedia   = "media"
	KindDeleted = "deleted"
)

// Get returns the value of the named field and whether the record has it.
func (r *Record) Get(name string) (string, bool) {
	for i, n := range r.Names {
		if n == name {
			if i < len(r.Values) {
				return r.Values[i], true
			}
			return "", true
		}
	}
	return "", false
}

// Pos is "file:line", the form every message about a row uses.
func (r *Record) Pos() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// Reader yields the records of one input.
//
// Next returns the next record, or io.EOF after the last one. A row that
// cannot be parsed comes back as a Record with Err set, not as an error: only
// failures that end the whole input (unreadable file, undecodable stream,
// cancelled context) are returned as errors, and they wrap the file and line
// reached. After an error other than io.EOF, Next must not be called again.
// Close releases the file; it is safe to call more than once.
type Reader interface {
	Next() (*Record, error)
	Format() string
	Close() error
}

// RowError is the Err of a Record whose row could not be parsed.
type RowError struct {
	File string
	Line int
	Msg  string
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// IsEOF reports whether err marks the normal end of an input.
func IsEOF(err error) bool { return errors.Is(err, io.EOF) }
