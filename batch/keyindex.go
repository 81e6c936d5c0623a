package batch

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sort"
	"time"
)

// keyIndex remembers every idempotency key of a run: the state the ledger
// (as reconciled) gave it when the run started, whether a row of this run
// carried it (seenThisRun), and where it was first seen. Outcomes of this
// run go to the ledger only: nothing reads them back during the run.
// It is the one structure that grows with the input,
// so it keeps little in memory: the newest keys (up to memKeys) in a map and
// all older ones in sorted runs of fixed-size records, spilled to unlinked
// temporary files next to the ledger. Per run, memory holds a Bloom filter
// (10 bits a key, ~1 % false positives) and the first key of each 4 KiB block,
// so a lookup that misses the map costs a few Bloom probes and, when a run
// may hold the key, one block read the page cache usually answers.
//
// Memory: about 0.5 MB for the map plus 1.3 bytes a key (a million keys: ~2 MB).
// Disk: 24 bytes a key, merged in the manner of a binary counter, so a key is
// rewritten about log2(keys/memKeys) times and a lookup visits as many runs.
//
// A keyIndex is not safe for concurrent use; the importer holds its lock.
type keyIndex struct {
	dir     string // where runs are spilled
	memKeys int    // spill threshold of mem
	mem     map[keyID]keyEntry
	runs    []*keyRun // oldest first: a newer run's entry for a key wins
	files   []string
	fileIdx map[string]uint16
	block   []byte
}

type keyID [16]byte

func (id keyID) String() string { return hex.EncodeToString(id[:]) }

func (id keyID) compare(o keyID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(o[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(id[8:]), binary.BigEndian.Uint64(o[8:]))
}

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

// defaultMemKeys keeps the map at 16,384 slots (~0.5 MB; Go's maps grow at
// 7/8 load). A larger map saves little: spills are sequential writes.
const defaultMemKeys = 1 << 14 * 7 / 8

// newKeyIndex returns an empty index that spills to dir.
func newKeyIndex(dir string) *keyIndex {
	return &keyIndex{dir: dir, memKeys: defaultMemKeys, mem: make(map[keyID]keyEntry),
		fileIdx: make(map[string]uint16)}
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

// get returns a key's newest entry.
func (ix *keyIndex) get(id keyID) (keyEntry, bool, error) {
	if e, ok := ix.mem[id]; ok {
		return e, true, nil
	}
	if ix.block == nil && len(ix.runs) > 0 {
		ix.block = make([]byte, blockSize)
	}
	for i := len(ix.runs) - 1; i >= 0; i-- {
		e, ok, err := ix.runs[i].get(id, ix.block)
		if err != nil || ok {
			return e, ok, err
		}
	}
	return keyEntry{}, false, nil
}

// put records a key's entry, replacing any earlier one.
func (ix *keyIndex) put(id keyID, e keyEntry) error {
	ix.mem[id] = e
	if len(ix.mem) < ix.memKeys {
		return nil
	}
	return ix.spill()
}

// spill writes the map out as a sorted run, then merges runs while the
// newest is at least as large as the one before it.
func (ix *keyIndex) spill() error {
	if len(ix.mem) == 0 {
		return nil
	}
	entries := make([]keyRecord, 0, len(ix.mem))
	for id, e := range ix.mem {
		entries = append(entries, keyRecord{id, e})
	}
	slices.SortFunc(entries, func(a, b keyRecord) int { return a.id.compare(b.id) })
	i := 0
	run, err := ix.writeRun(len(entries), func() (keyRecord, bool, error) {
		if i == len(entries) {
			return keyRecord{}, false, nil
		}
		i++
		return entries[i-1], true, nil
	})
	if err != nil {
		return err
	}
	clear(ix.mem)
	ix.runs = append(ix.runs, run)
	for n := len(ix.runs); n >= 2 && ix.runs[n-2].n <= ix.runs[n-1].n; n = len(ix.runs) {
		if err := ix.mergeLast(); err != nil {
			return err
		}
	}
	return nil
}

// mergeLast merges the two newest runs into one.
func (ix *keyIndex) mergeLast() error {
	n := len(ix.runs)
	older, newer := ix.runs[n-2], ix.runs[n-1]
	a, b := older.reader(), newer.reader()
	ra, okA, err := a.next()
	if err != nil {
		return err
	}
	rb, okB, err := b.next()
	if err != nil {
		return err
	}
	merged, err := ix.writeRun(older.n+newer.n, func() (keyRecord, bool, error) {
		var out keyRecord
		var err error
		switch {
		case !okA && !okB:
			return keyRecord{}, false, nil
		case okA && (!okB || ra.id.compare(rb.id) < 0):
			out = ra
			ra, okA, err = a.next()
		default:
			if okA && ra.id == rb.id { // the newer run's entry wins
				if ra, okA, err = a.next(); err != nil {
					return keyRecord{}, false, err
				}
			}
			out = rb
			rb, okB, err = b.next()
		}
		return out, true, err
	})
	if err != nil {
		return err
	}
	older.close()
	newer.close()
	ix.runs = append(ix.runs[:n-2], merged)
	return nil
}

// each calls fn with every key's newest entry, in key order once anything
// was spilled. It compacts the index into one run to do so.
func (ix *keyIndex) each(fn func(keyID, keyEntry)) error {
	if len(ix.runs) == 0 {
		for id, e := range ix.mem {
			fn(id, e)
		}
		return nil
	}
	if err := ix.spill(); err != nil {
		return err
	}
	for len(ix.runs) > 1 {
		if err := ix.mergeLast(); err != nil {
			return err
		}
	}
	r := ix.runs[0].reader()
	for {
		rec, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		fn(rec.id, rec.e)
	}
}

// pending lists the keys whose outcome is unknown (sent or in doubt).
func (ix *keyIndex) pending() ([]keyID, error) {
	var out []keyID
	err := ix.each(func(id keyID, e keyEntry) {
		if e.state == kSent || e.state == kInDoubt {
			out = append(out, id)
		}
	})
	return out, err
}

// close releases the spill files.
func (ix *keyIndex) close() {
	for _, r := range ix.runs {
		r.close()
	}
	ix.runs = nil
}

// A run is a file of keyRecords sorted by key, recSize bytes each.
const (
	recSize   = 24
	blockRecs = 170
	blockSize = blockRecs * recSize // 4,080 bytes: one page read per lookup
)

type keyRecord struct {
	id keyID
	e  keyEntry
}

func (r keyRecord) encode(b []byte) {
	copy(b[:16], r.id[:])
	b[16], b[17] = r.e.state, 0
	binary.LittleEndian.PutUint16(b[18:], r.e.file)
	binary.LittleEndian.PutUint32(b[20:], r.e.line)
}

func decodeKeyRecord(b []byte) keyRecord {
	var r keyRecord
	copy(r.id[:], b[:16])
	r.e = keyEntry{state: b[16], file: binary.LittleEndian.Uint16(b[18:]), line: binary.LittleEndian.Uint32(b[20:])}
	return r
}

type keyRun struct {
	f     *os.File
	path  string // set while the file still has a name to remove
	n     int
	fence []keyID // first key of each block
	bloom bloomFilter
}

// writeRun writes records (ascending, at most max of them) to a new run.
func (ix *keyIndex) writeRun(max int, next func() (keyRecord, bool, error)) (_ *keyRun, err error) {
	f, err := os.CreateTemp(ix.dir, ".commlog-keys-*")
	if err != nil {
		return nil, fmt.Errorf("key index: %w", err)
	}
	run := &keyRun{f: f, bloom: newBloomFilter(max)}
	// Unlinked at once where the OS allows it: a crash leaves nothing behind.
	if os.Remove(f.Name()) != nil {
		run.path = f.Name()
	}
	defer func() {
		if err != nil {
			run.close()
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	var b [recSize]byte
	for {
		rec, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if run.n%blockRecs == 0 {
			run.fence = append(run.fence, rec.id)
		}
		run.bloom.add(rec.id)
		rec.encode(b[:])
		if _, err := w.Write(b[:]); err != nil {
			return nil, fmt.Errorf("key index: writing %s: %w", f.Name(), err)
		}
		run.n++
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("key index: writing %s: %w", f.Name(), err)
	}
	return run, nil
}

func (r *keyRun) get(id keyID, buf []byte) (keyEntry, bool, error) {
	if !r.bloom.has(id) {
		return keyEntry{}, false, nil
	}
	blk := sort.Search(len(r.fence), func(i int) bool { return r.fence[i].compare(id) > 0 }) - 1
	if blk < 0 {
		return keyEntry{}, false, nil
	}
	off := int64(blk) * blockSize
	size := min(blockSize, int64(r.n)*recSize-off)
	if _, err := r.f.ReadAt(buf[:size], off); err != nil {
		return keyEntry{}, false, fmt.Errorf("key index: reading %s: %w", r.f.Name(), err)
	}
	recs := int(size / recSize)
	i, found := sort.Find(recs, func(i int) int {
		var k keyID
		copy(k[:], buf[i*recSize:])
		return id.compare(k)
	})
	if !found {
		return keyEntry{}, false, nil
	}
	return decodeKeyRecord(buf[i*recSize:]).e, true, nil
}

func (r *keyRun) reader() *runReader {
	return &runReader{r: bufio.NewReaderSize(io.NewSectionReader(r.f, 0, int64(r.n)*recSize), 64<<10), name: r.f.Name()}
}

func (r *keyRun) close() {
	r.f.Close()
	if r.path != "" {
		os.Remove(r.path)
		r.path = ""
	}
}

type runReader struct {
	r    *bufio.Reader
	name string
	b    [recSize]byte
}

func (rr *runReader) next() (keyRecord, bool, error) {
	if _, err := io.ReadFull(rr.r, rr.b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return keyRecord{}, false, nil
		}
		return keyRecord{}, false, fmt.Errorf("key index: reading %s: %w", rr.name, err)
	}
	return decodeKeyRecord(rr.b[:]), true, nil
}

// bloomFilter answers "certainly not here" for most keys a run lacks; 10 bits
// and 7 probes a key give ~1 % false positives.
type bloomFilter struct {
	bits  []uint64
	nbits uint64
}

func newBloomFilter(keys int) bloomFilter {
	words := (max(keys, 1)*10 + 63) / 64
	return bloomFilter{bits: make([]uint64, words), nbits: uint64(words) * 64}
}

// probes calls fn with the key's 7 bit positions, derived from two hashes
// (keys are SHA-256 output already, but a user's key column may not be, so
// they are mixed first) and mapped onto the filter by multiplication.
func (f *bloomFilter) probes(id keyID, fn func(word uint64, bit uint64) bool) {
	h1 := mix64(binary.LittleEndian.Uint64(id[:8]))
	h2 := mix64(binary.LittleEndian.Uint64(id[8:])^h1) | 1
	for i := range uint64(7) {
		b, _ := bits.Mul64(h1+i*h2, f.nbits)
		if !fn(b/64, 1<<(b%64)) {
			return
		}
	}
}

func (f *bloomFilter) add(id keyID) {
	f.probes(id, func(w, bit uint64) bool { f.bits[w] |= bit; return true })
}

func (f *bloomFilter) has(id keyID) bool {
	all := true
	f.probes(id, func(w, bit uint64) bool { all = f.bits[w]&bit != 0; return all })
	return all
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
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

// loadLedgerState reads a ledger into keys (empty): a key's state is the
// state of its last event, its position that of its first. Plan ledgers and
// keyless events are ignored.
func loadLedgerState(path string, keys *keyIndex) (*ledgerState, error) {
	st := &ledgerState{keys: keys, runs: map[string]bool{}}
	err := ReadLedger(path, func(r LedgerRow) error {
		st.events++
		st.runs[r.RunID] = true
		if t, err := time.Parse(time.RFC3339Nano, r.Time); err == nil && t.After(st.lastEvent) {
			st.lastEvent = t
		}
		if !settlesKey(r) {
			return nil
		}
		id := parseKey(r.Key)
		e, ok, err := st.keys.get(id)
		if err != nil {
			return err
		}
		if !ok {
			e = keyEntry{file: st.keys.file(r.SourceFile), line: uint32(r.SourceLine)}
		}
		e.state = stateCode(r.State)
		return st.keys.put(id, e)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
