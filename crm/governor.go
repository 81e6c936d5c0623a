package crm

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Clock is the governor's time source. Tests pass a fake one so pacing can
// be checked without waiting.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Budget is what the governor has learnt from HubSpot's rate-limit headers
// (or its initial guesses). Daily figures are 0 when unknown.
type Budget struct {
	WindowMax      int
	Window         time.Duration
	DailyLimit     int64
	DailyRemaining int64
}

// Rate-limit response headers (HubSpot usage guidelines). Search responses
// carry none of them.
const (
	hdrMax            = "X-HubSpot-RateLimit-Max"
	hdrRemaining      = "X-HubSpot-RateLimit-Remaining"
	hdrInterval       = "X-HubSpot-RateLimit-Interval-Milliseconds"
	hdrDaily          = "X-HubSpot-RateLimit-Daily"
	hdrDailyRemaining = "X-HubSpot-RateLimit-Daily-Remaining"
)

// governor paces every request of one token. All goroutines of a Client
// share it. Ordinary requests go through a rolling-window log that mirrors
// HubSpot's TEN_SECONDLY_ROLLING policy: a request occupies a slot from the
// moment it is sent until one window after the server counted it. The
// server counts a request on arrival, which we cannot see: we take it to be
// the answer's time minus half the shortest round trip seen lately (the
// uplink half of a round trip with no queueing). That is never before the
// true arrival when the two halves of a trip are alike; the margin covers
// paths where they are not. Holding the slot until a window after the
// answer instead would waste half a round trip per window: at 250 ms about
// 2.5 % of the budget. Search requests are exempt from that window and
// are spaced by their own rate instead. A user TPS cap spaces all requests.
type governor struct {
	clock   Clock
	reserve int64

	mu        sync.Mutex
	windowMax int
	window    time.Duration
	factor    float64 // < 1 after 429s: run below the learnt maximum for a while
	slots     []slot
	rtts      [32]time.Duration // recent round trips of ordinary requests
	nRTT      int
	nextID    uint64
	changed   chan struct{} // closed and replaced whenever a slot completes
	pausedTil time.Time     // after a burst 429

	gap    time.Duration // user TPS cap
	nextAt time.Time

	searchGap    time.Duration
	searchBase   time.Duration // searchGap before any search 429
	searchNextAt time.Time
	searchPaused time.Time

	dailyLimit     int64
	dailyRemaining int64
	dailyKnown     bool
}

type slot struct {
	id   uint64
	done bool
	sent time.Time
	at   time.Time // once done: when the server is taken to have counted it
}

// ticket is what acquire hands out and release takes back.
type ticket struct {
	id     uint64
	search bool
}

func newGovernor(o Options) *governor {
	g := &governor{
		clock:     o.Clock,
		reserve:   o.DailyReserve,
		windowMax: o.Burst,
		window:    o.Window,
		factor:    1,
		changed:   make(chan struct{}),
		searchGap: time.Duration(float64(time.Second) / o.SearchPerSecond),
	}
	g.searchBase = g.searchGap
	if o.TPS > 0 {
		g.gap = time.Duration(float64(time.Second) / o.TPS)
	}
	return g
}

// margin is the headroom kept below HubSpot's window maximum for requests
// counted later than our estimate says (an uplink slower than the
// downlink) and for jitter; other processes on the same app are seen
// through the Remaining header instead. 1% (2 of Pro's 190) keeps a steady
// run free of 429s at 250 ± 100 ms and its utilisation above 0.97.
func margin(max int) int {
	return int(math.Max(1, math.Ceil(float64(max)*0.01)))
}

func (g *governor) limitLocked() int {
	l := int(float64(g.windowMax)*g.factor) - margin(g.windowMax)
	return max(l, 1)
}

// acquire blocks until a request may be sent, then takes a slot.
func (g *governor) acquire(ctx context.Context, search bool) (ticket, error) {
	for {
		if err := ctx.Err(); err != nil {
			return ticket{}, err
		}
		g.mu.Lock()
		now := g.clock.Now()
		if g.dailyKnown && g.reserve > 0 && g.dailyRemaining <= g.reserve {
			rem, lim := g.dailyRemaining, g.dailyLimit
			g.mu.Unlock()
			return ticket{}, fmt.Errorf("%w: %d of %d requests left today, reserve %d", ErrDailyReserve, rem, lim, g.reserve)
		}
		var wait time.Duration
		later := func(t time.Time) {
			if d := t.Sub(now); d > wait {
				wait = d
			}
		}
		later(g.nextAt)
		var full chan struct{}
		if search {
			later(g.searchPaused)
			later(g.searchNextAt)
		} else {
			later(g.pausedTil)
			g.pruneLocked(now)
			if len(g.slots) >= g.limitLocked() {
				if oldest, ok := g.oldestDoneLocked(); ok {
					later(oldest.Add(g.window))
				} else {
					full = g.changed // every slot is in flight: wait for one to finish
				}
			}
		}
		if wait <= 0 && full == nil {
			t := ticket{search: search}
			if !search {
				g.nextID++
				t.id = g.nextID
				g.slots = append(g.slots, slot{id: t.id, sent: now})
			} else {
				g.searchNextAt = now.Add(g.searchGap)
			}
			if g.gap > 0 {
				g.nextAt = now.Add(g.gap)
			}
			if g.dailyKnown {
				g.dailyRemaining--
			}
			g.mu.Unlock()
			return t, nil
		}
		g.mu.Unlock()
		if wait > 0 {
			if err := g.clock.Sleep(ctx, wait); err != nil {
				return ticket{}, err
			}
			continue
		}
		select {
		case <-full:
		case <-ctx.Done():
			return ticket{}, ctx.Err()
		}
	}
}

// observeRTTLocked records a round trip and returns the shortest of the
// recent ones.
func (g *governor) observeRTTLocked(rtt time.Duration) time.Duration {
	g.rtts[g.nRTT%len(g.rtts)] = max(rtt, 0)
	g.nRTT++
	short := g.rtts[0]
	for i := 1; i < min(g.nRTT, len(g.rtts)); i++ {
		short = min(short, g.rtts[i])
	}
	return short
}

func (g *governor) pruneLocked(now time.Time) {
	cut := now.Add(-g.window)
	kept := g.slots[:0]
	for _, s := range g.slots {
		if !s.done || s.at.After(cut) {
			kept = append(kept, s)
		}
	}
	g.slots = kept
}

func (g *governor) oldestDoneLocked() (time.Time, bool) {
	var oldest time.Time
	found := false
	for _, s := range g.slots {
		if s.done && (!found || s.at.Before(oldest)) {
			oldest, found = s.at, true
		}
	}
	return oldest, found
}

// release completes a ticket's slot and learns from the response headers
// (h may be nil when no response arrived).
func (g *governor) release(t ticket, h http.Header, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	if !t.search {
		for i := range g.slots {
			if sl := &g.slots[i]; sl.id == t.id {
				sl.done = true
				sl.at = now.Add(-g.observeRTTLocked(now.Sub(sl.sent)) / 2)
				break
			}
		}
		close(g.changed)
		g.changed = make(chan struct{})
	}
	if ok && t.search && g.searchGap > g.searchBase {
		g.searchGap = max(g.searchBase, g.searchGap*99/100) // recover slowly after a search 429
	}
	if ok && g.factor < 1 {
		g.factor = math.Min(1, g.factor+0.2/float64(max(g.windowMax, 1)))
	}
	if h == nil {
		return
	}
	if v, err := strconv.Atoi(h.Get(hdrMax)); err == nil && v > 0 {
		g.windowMax = v
	}
	if v, err := strconv.Atoi(h.Get(hdrInterval)); err == nil && v > 0 {
		g.window = time.Duration(v) * time.Millisecond
	}
	if v, err := strconv.ParseInt(h.Get(hdrDaily), 10, 64); err == nil && v > 0 {
		g.dailyLimit = v
	}
	if v, err := strconv.ParseInt(h.Get(hdrDailyRemaining), 10, 64); err == nil && v >= 0 {
		switch {
		case !g.dailyKnown, v < g.dailyRemaining:
			g.dailyRemaining = v
		case v > g.dailyRemaining+2*int64(g.windowMax):
			g.dailyRemaining = v // the daily quota was reset
		}
		g.dailyKnown = true
	}
	if v, err := strconv.Atoi(h.Get(hdrRemaining)); err == nil && v >= 0 && !t.search {
		// The server saw more requests in its window than we sent (another
		// process on the same app): occupy the difference for one window.
		g.pruneLocked(now)
		if extra := (g.windowMax - len(g.slots)) - v; extra > 0 {
			for range extra {
				g.nextID++
				g.slots = append(g.slots, slot{id: g.nextID, done: true, at: now})
			}
		}
	}
}

// rateLimited records a 429 and slows down: a burst 429 pauses every
// ordinary request for Retry-After (or one window) and lowers the pace; a
// search 429 pauses and spaces searches further.
func (g *governor) rateLimited(search bool, policy string, retryAfter time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	if search || policy == "SECONDLY" {
		if retryAfter <= 0 {
			retryAfter = time.Second
		}
		g.searchPaused = now.Add(retryAfter)
		g.searchGap = min(g.searchGap*5/4, 5*time.Second)
		return
	}
	if retryAfter <= 0 {
		retryAfter = g.window
	}
	if t := now.Add(retryAfter); t.After(g.pausedTil) {
		g.pausedTil = t
	}
	g.factor = math.Max(0.5, g.factor*0.8)
}

func (g *governor) budget() Budget {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := Budget{WindowMax: g.windowMax, Window: g.window, DailyLimit: g.dailyLimit}
	if g.dailyKnown {
		b.DailyRemaining = g.dailyRemaining
	}
	return b
}
