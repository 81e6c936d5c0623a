package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// keyIndex remembers every idempotency key of a run: its current ledger
// state and where it was first seen. It is the one index that grows with the
// input — 24 bytes of payload a key (about 50 bytes with the map's overhead,
// so ~50 MB for a million rows); nothing else in the pipeline does.
type keyIndex struct {
	m       map[keyID]keyEntry
	files   []string
	fileIdx map[string]uint16
}

type keyID [16]byte

type keyEntry struct {
	state uint8
	file  uint16
	line  uint32
}

// State codes held in keyEntry; 0 means "seen in this run, not sent yet".
const (
	kNone uint8 = iota
	kSent
	kCreated
	kFailed
	kInDoubt
	kOther // invalid, unresolved, skipped: re-evaluated on every run
)

func stateCode(state string) uint8 {
	switch state {
	case StateSent:
		return kSent
	case StateCreated, StateUpdated:
		return kCreated
	case StateFailed:
		return kFailed
	case StateInDoubt:
		return kInDoubt
	default:
		return kOther
	}
}

func newKeyIndex() *keyIndex {
	return &keyIndex{m: make(map[keyID]keyEntry), fileIdx: make(map[string]uint16)}
}

// parseKey turns a mapping key (32 hex characters) into its 16 bytes; any
// other string is hashed so that the index never depends on the key's form.
func parseKey(k string) keyID {
	var id keyID
	if len(k) == 32 {
		if _, err := hex.Decode(id[:], []byte(k)); err == nil {
			return id
		}
	}
	sum := sha256.Sum256([]byte(k))
	copy(id[:], sum[:16])
	return id
}

func (ix *keyIndex) file(name string) uint16 {
	if i, ok := ix.fileIdx[name]; ok {
		return i
	}
	if len(ix.files) >= 1<<16-1 {
		return 1<<16 - 1 // positions of files past 65,535 inputs are reported without a name
	}
	i := uint16(len(ix.files))
	ix.files = append(ix.files, name)
	ix.fileIdx[name] = i
	return i
}

func (ix *keyIndex) pos(e keyEntry) string {
	return fmt.Sprintf("%s:%d", ix.fileName(e), e.line)
}

func (ix *keyIndex) fileName(e keyEntry) string {
	if int(e.file) < len(ix.files) {
		return ix.files[e.file]
	}
	return "?"
}

// ledgerState is what a ledger says about the runs before this one.
type ledgerState struct {
	keys *keyIndex
	// lastEvent is the time of the ledger's last event: a write whose answer
	// was lost happened before it (or within moments of the crash that cut
	// the ledger), so reconciliation waits for search to catch up with it.
	lastEvent time.Time
	events    int
	runs      map[string]bool
}

// loadLedgerState reads a ledger into the key index: a key's state is the
// state of its last event. Plan ledgers and keyless events are ignored.
func loadLedgerState(path string) (*ledgerState, error) {
	st := &ledgerState{keys: newKeyIndex(), runs: map[string]bool{}}
	err := ReadLedger(path, func(r LedgerRow) error {
		st.events++
		st.runs[r.RunID] = true
		if t, err := time.Parse(time.RFC3339Nano, r.Time); err == nil && t.After(st.lastEvent) {
			st.lastEvent = t
		}
		// Skipped and invalid events never settle a key: a skip rule or a
		// bad row may share its key with a row that was created.
		if r.Key == "" || r.Operation == OpPlan || r.State == StateSkipped || r.State == StateInvalid {
			return nil
		}
		id := parseKey(r.Key)
		e, ok := st.keys.m[id]
		if !ok {
			e = keyEntry{file: st.keys.file(r.SourceFile), line: uint32(r.SourceLine)}
		}
		e.state = stateCode(r.State)
		st.keys.m[id] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// pending lists the keys whose outcome is unknown (sent or in doubt).
func (ix *keyIndex) pending() []keyID {
	var out []keyID
	for id, e := range ix.m {
		if e.state == kSent || e.state == kInDoubt {
			out = append(out, id)
		}
	}
	return out
}

func (id keyID) String() string { return hex.EncodeToString(id[:]) }
