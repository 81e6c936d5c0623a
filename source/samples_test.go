package source

import (
	"path/filepath"
	"testing"
)

// TestSamples reads every sample under samples/ the way its mapping says:
// no row errors, 15–60 messages, auto picks the same format, and every
// message that will be imported has a counterpart to associate.
func TestSamples(t *testing.T) {
	tests := []struct {
		file    string
		opts    Options
		cpField string
	}{
		{"whatsapp.txt", Options{Format: FormatWhatsApp, DateOrder: "DMY", Me: []string{"Anna Schmidt"}}, FieldCounterpart},
		{"linkedin-messages.csv", Options{Format: FormatLinkedIn, Me: []string{"https://www.linkedin.com/in/anna-schmidt-demo"}}, FieldCounterpart},
		{"sms-backup.xml", Options{Format: FormatSMSXML, Me: []string{"+44 20 7946 0000"}}, FieldCounterpart},
		{"twilio.csv", Options{Format: FormatTwilio}, FieldCounterpart},
		{"chats.csv", Options{Format: FormatCSV}, "counterpart_phone"},
		{"chats.jsonl", Options{Format: FormatJSONL}, "customer.email"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "samples", tt.file)
			rd, err := Open(path, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			recs, err := drain(t, rd)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) < 15 || len(recs) > 60 {
				t.Errorf("%d records, want 15-60", len(recs))
			}
			for _, r := range recs {
				if r.Err != nil {
					t.Errorf("%v", r.Err)
				}
				kind, _ := r.Get(FieldKind)
				if kind == "" {
					kind, _ = r.Get("message.kind")
				}
				if kind == KindSystem || kind == KindDeleted {
					continue
				}
				if cp, _ := r.Get(tt.cpField); cp == "" {
					if name, _ := r.Get(FieldSender); name != "" || tt.cpField != FieldCounterpart {
						t.Errorf("%s: no %s", r.Pos(), tt.cpField)
					}
				}
			}
			auto := tt.opts
			auto.Format = FormatAuto
			rd2, err := Open(path, auto)
			if err != nil {
				t.Fatal(err)
			}
			defer rd2.Close()
			if rd2.Format() != tt.opts.Format {
				t.Errorf("auto chose %s, want %s", rd2.Format(), tt.opts.Format)
			}
		})
	}
}
