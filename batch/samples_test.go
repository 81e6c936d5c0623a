package batch

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/commlog/commlog/crm/sandbox"
	"github.com/commlog/commlog/mapping"
)

// TestImportEverySampleFormat imports each sample export (every input
// format) into a sandbox seeded with samples/contacts.csv, then again: the
// sandbox must hold exactly the rows the ledger says were created, no key
// twice, and the second run must create nothing.
func TestImportEverySampleFormat(t *testing.T) {
	samples := []struct{ mapping, input string }{
		{"whatsapp.yaml", "whatsapp.txt"},
		{"linkedin-messages.yaml", "linkedin-messages.csv"},
		{"sms-backup.yaml", "sms-backup.xml"},
		{"twilio.yaml", "twilio.csv"},
		{"chats.yaml", "chats.csv"},
		{"chats-jsonl.yaml", "chats.jsonl"},
	}
	dir := filepath.Join("..", "samples")
	env := newSandboxEnv(t, sandbox.Options{ContactsFile: filepath.Join(dir, "contacts.csv"), SearchLag: 20 * time.Millisecond})
	created := 0
	for _, s := range samples {
		t.Run(s.input, func(t *testing.T) {
			m, err := mapping.Load(filepath.Join(dir, s.mapping))
			if err != nil {
				t.Fatal(err)
			}
			o := baseOptions(t, env.client, m, filepath.Join(dir, s.input))
			o.Ledger = filepath.Join(t.TempDir(), "ledger.csv")
			sum, err := Import(context.Background(), o)
			if err != nil && !errors.Is(err, ErrRowsFailed) {
				t.Fatalf("Import: %v", err)
			}
			if sum.Created == 0 || sum.Invalid != 0 || sum.Failed != 0 || sum.InDoubt != 0 {
				t.Errorf("summary: %+v", sum)
			}
			if sum.Rows != sum.Created+sum.Skipped+sum.Duplicates+sum.Unresolved {
				t.Errorf("%d rows but %d created + %d skipped + %d duplicates + %d unresolved",
					sum.Rows, sum.Created, sum.Skipped, sum.Duplicates, sum.Unresolved)
			}
			states := countStates(lastStates(t, o.Ledger))
			if states[StateCreated] != int(sum.Created) {
				t.Errorf("ledger says %d created, summary %d", states[StateCreated], sum.Created)
			}
			created += int(sum.Created)
			if n := len(env.comms(t)); n != created {
				t.Errorf("sandbox holds %d communications, want %d", n, created)
			}

			for _, r := range env.srv.Objects("communications", false) {
				if len(r.Associations["contacts"]) == 0 {
					t.Errorf("communication %s (%s) is on no contact's timeline", r.ID, r.Properties[KeyProperty])
				}
			}

			again, err := Import(context.Background(), o)
			if err != nil && !errors.Is(err, ErrRowsFailed) {
				t.Fatalf("second Import: %v", err)
			}
			if again.Created != 0 || again.AlreadyDone != sum.Created {
				t.Errorf("second run: created %d, already done %d (first run created %d)", again.Created, again.AlreadyDone, sum.Created)
			}
			if n := len(env.comms(t)); n != created {
				t.Errorf("after the second run the sandbox holds %d communications, want %d", n, created)
			}
		})
	}
}
