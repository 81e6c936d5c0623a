package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are per-request probabilities of injected failures. At most one
// fault hits a request; their sum must not exceed 1.
type Faults struct {
	// Rate5xx answers 500, 502 or 503 without applying the request.
	Rate5xx float64
	// Rate429 answers an unplanned TEN_SECONDLY_ROLLING 429.
	Rate429 float64
	// Reset closes the connection (TCP RST) before the request is applied.
	Reset float64
	// Drop applies the request, then closes the connection without a
	// response: the client cannot know whether its write happened.
	Drop float64
	// Slow delays the response by SlowDelay (default 2s) before handling.
	Slow      float64
	SlowDelay time.Duration
}

// ParseFaults reads "5xx=0.02,429=0.01,reset=0.01,drop=0.01,slow=0.01"
// (any subset; also "slowdelay=3s"). "" and "none" mean no faults.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return f, nil
	}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Faults{}, fmt.Errorf("faults %q: want name=rate, e.g. 5xx=0.02", part)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if k == "slowdelay" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Faults{}, fmt.Errorf("faults slowdelay=%q: want a duration such as 3s", v)
			}
			f.SlowDelay = d
			continue
		}
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r >= 0 && r <= 1) {
			return Faults{}, fmt.Errorf("faults %s=%q: want a rate between 0 and 1", k, v)
		}
		switch k {
		case "5xx":
			f.Rate5xx = r
		case "429":
			f.Rate429 = r
		case "reset":
			f.Reset = r
		case "drop":
			f.Drop = r
		case "slow":
			f.Slow = r
		default:
			return Faults{}, fmt.Errorf("faults: unknown fault %q (want 5xx, 429, reset, drop, slow, slowdelay)", k)
		}
	}
	if sum := f.Rate5xx + f.Rate429 + f.Reset + f.Drop + f.Slow; sum > 1 {
		return Faults{}, fmt.Errorf("faults: rates add up to %.3g, more than 1", sum)
	}
	return f, nil
}

// String renders f in ParseFaults' syntax.
func (f Faults) String() string {
	var parts []string
	add := func(k string, r float64) {
		if r > 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(r, 'g', -1, 64))
		}
	}
	add("5xx", f.Rate5xx)
	add("429", f.Rate429)
	add("reset", f.Reset)
	add("drop", f.Drop)
	add("slow", f.Slow)
	if f.SlowDelay > 0 {
		parts = append(parts, "slowdelay="+f.SlowDelay.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

type faultKind int

const (
	faultNone faultKind = iota
	fault5xx
	fault429
	faultReset
	faultDrop
	faultSlow
)

// dice is the sandbox's seeded randomness: faults, 5xx status choice and
// latency jitter all draw from it, so a seed reproduces a run's failures
// for the same sequence of requests.
type dice struct {
	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
}

func newDice(seed int64, f Faults) *dice {
	return &dice{rng: rand.New(rand.NewPCG(uint64(seed), 0x636f6d6d6c6f67)), faults: f}
}

func (d *dice) set(f Faults) {
	d.mu.Lock()
	d.faults = f
	d.mu.Unlock()
}

func (d *dice) get() Faults {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.faults
}

// roll picks at most one fault for a request.
func (d *dice) roll() faultKind {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.faults
	if f.Rate5xx+f.Rate429+f.Reset+f.Drop+f.Slow == 0 {
		return faultNone
	}
	x := d.rng.Float64()
	for _, c := range []struct {
		r float64
		k faultKind
	}{{f.Rate5xx, fault5xx}, {f.Rate429, fault429}, {f.Reset, faultReset}, {f.Drop, faultDrop}, {f.Slow, faultSlow}} {
		if x < c.r {
			return c.k
		}
		x -= c.r
	}
	return faultNone
}

func (d *dice) intN(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.IntN(n)
}

// latency returns base ± jitter (never negative).
func (d *dice) latency(base, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return base
	}
	d.mu.Lock()
	j := time.Duration(d.rng.Int64N(int64(2*jitter)+1)) - jitter
	d.mu.Unlock()
	return max(base+j, 0)
}
