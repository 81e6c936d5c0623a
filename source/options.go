package source

import "log/slog"

// Options tell a reader how to read one input. The mapping's `source`
// section fills them (mapping.Mapping.SourceOptions); flags may override.
type Options struct {
	// Format is csv, jsonl, whatsapp, linkedin, sms-xml, twilio, or auto
	// (also ""): sniffed from the first bytes and the file name.
	Format string
	// Delimiter for csv; 0 means sniff from the header line.
	Delimiter rune
	// Encoding of text formats: "" or utf-8, windows-1252, latin1 (iso-8859-1),
	// utf-16 (BOM decides), utf-16le, utf-16be.
	Encoding string
	// Me lists the names, phone numbers and profile URLs that are "us": a
	// message sent by one of them is outbound, any other inbound.
	Me []string
	// DateOrder is DMY, MDY or YMD for WhatsApp exports whose dates the data
	// cannot decide; "" lets the reader decide and fail when it cannot.
	DateOrder string
	// Logger receives notices such as which format auto chose; nil discards.
	Logger *slog.Logger
}
