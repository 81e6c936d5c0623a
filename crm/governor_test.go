package crm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPacingProTierNoRateLimits sends 1,000 batch creates from 8 goroutines
// at the Pro tier (190 requests / 10 s) against a server that enforces the
// rolling window on the same fake clock. The client starts with the Free
// guess (100) and must learn the rest from headers without a single 429.
func TestPacingProTierNoRateLimits(t *testing.T) {
	hub := newFakeHub(t)
	c := hub.client(t, nil)
	ctx := context.Background()
	const total, workers = 1000, 8
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				key := "k" + strconv.Itoa(i)
				_, err := c.BatchCreate(ctx, Communications, []CreateInput{{Properties: map[string]string{KeyProperty: key}, ObjectWriteTraceID: key}})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	hub.mu.Lock()
	served429 := hub.count429
	hub.mu.Unlock()
	if got := c.Stats(); got.RateLimited != 0 || served429 != 0 || got.Requests != total {
		t.Errorf("Stats = %+v, server sent %d 429s; want %d requests and no 429", got, served429, total)
	}
	if n := hub.count(Communications); n != total {
		t.Errorf("server holds %d objects, want %d", n, total)
	}
	b := c.Budget()
	if b.WindowMax != 190 || b.Window != 10*time.Second || b.DailyLimit != 650000 || b.DailyRemaining != 650000-total {
		t.Errorf("Budget = %+v", b)
	}
}

// TestPacingSharedApp: another process on the same app already used 150 of
// the window; the Remaining header must make the client hold back.
func TestPacingSharedApp(t *testing.T) {
	hub := newFakeHub(t)
	hub.mu.Lock()
	for range 150 {
		hub.log = append(hub.log, hub.clock.Now())
	}
	hub.mu.Unlock()
	c := hub.client(t, nil)
	for i := range 120 {
		if _, err := c.Get(context.Background(), Communications, "1", GetOptions{}); err != nil && !IsNotFound(err) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if s := c.Stats(); s.RateLimited != 0 {
		t.Errorf("%d 429s, want 0", s.RateLimited)
	}
}

func TestDailyReserve(t *testing.T) {
	hub := newFakeHub(t)
	hub.dailyLeft = 120
	c := hub.client(t, func(o *Options) { o.DailyReserve = 100 })
	var err error
	sent := 0
	for ; sent < 1000; sent++ {
		if _, err = c.Get(context.Background(), Communications, "1", GetOptions{}); err != nil && !IsNotFound(err) {
			break
		}
	}
	if !errors.Is(err, ErrDailyReserve) {
		t.Fatalf("err = %v, want ErrDailyReserve", err)
	}
	hub.mu.Lock()
	left := hub.dailyLeft
	hub.mu.Unlock()
	if left != 100 || sent != 20 {
		t.Errorf("stopped after %d requests with %d left at the server; want 20 and 100", sent, left)
	}
	if b := c.Budget(); b.DailyRemaining != 100 {
		t.Errorf("Budget().DailyRemaining = %d, want 100", b.DailyRemaining)
	}
}

func rateLimitOnce(hub *fakeHub, policy, retryAfter string) {
	var once sync.Once
	hub.setHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		hit := false
		once.Do(func() {
			hit = true
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeJSON(w, 429, map[string]any{"status": "error", "message": "You have reached your limit.", "errorType": "RATE_LIMIT", "policyName": policy})
		})
		return hit
	})
}

func TestRateLimitedRetried(t *testing.T) {
	tests := []struct {
		name, policy, retryAfter string
		search                   bool
		minPause                 time.Duration
	}{
		{"burst with Retry-After", "TEN_SECONDLY_ROLLING", "3", false, 3 * time.Second},
		{"burst without Retry-After waits a window", "TEN_SECONDLY_ROLLING", "", false, 10 * time.Second},
		{"search secondly", "SECONDLY", "", true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t)
			rateLimitOnce(hub, tt.policy, tt.retryAfter)
			c := hub.client(t, nil)
			start := hub.clock.Now()
			var err error
			if tt.search {
				_, err = c.Search(context.Background(), Communications, SearchRequest{})
			} else {
				_, err = c.Create(context.Background(), Communications, CreateInput{Properties: map[string]string{"a": "b"}})
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := hub.clock.elapsed(start); d < tt.minPause {
				t.Errorf("retried after %v, want at least %v", d, tt.minPause)
			}
			want := Stats{Requests: 2, RateLimited: 1, Retries: 1}
			if tt.search {
				want.SearchRequests = 2
			}
			if diff := cmp.Diff(want, c.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if !tt.search && hub.count(Communications) != 1 {
				t.Errorf("%d objects after a 429 and a retry, want 1", hub.count(Communications))
			}
		})
	}
}

func TestDailyLimit429Stops(t *testing.T) {
	hub := newFakeHub(t)
	rateLimitOnce(hub, "DAILY", "")
	c := hub.client(t, nil)
	_, err := c.Create(context.Background(), Communications, CreateInput{})
	if !errors.Is(err, ErrDailyReserve) || !IsRateLimited(err) {
		t.Fatalf("err = %v, want ErrDailyReserve wrapping a 429", err)
	}
	if s := c.Stats(); s.Requests != 1 || s.Retries != 0 {
		t.Errorf("Stats = %+v, want one request and no retry", s)
	}
}

func TestTPSCap(t *testing.T) {
	hub := newFakeHub(t)
	c := hub.client(t, func(o *Options) { o.TPS = 2 })
	start := hub.clock.Now()
	for range 11 {
		if _, err := c.Get(context.Background(), Communications, "1", GetOptions{}); err != nil && !IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if d := hub.clock.elapsed(start); d < 5*time.Second {
		t.Errorf("11 requests at TPS 2 took %v of fake time, want >= 5s", d)
	}
}

func TestSearchPacedSeparately(t *testing.T) {
	hub := newFakeHub(t)
	c := hub.client(t, nil) // 4 searches/s by default
	start := hub.clock.Now()
	for range 21 {
		if _, err := c.Search(context.Background(), Communications, SearchRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if d := hub.clock.elapsed(start); d < 5*time.Second {
		t.Errorf("21 searches took %v of fake time, want >= 5s at 4/s", d)
	}
	if s := c.Stats(); s.RateLimited != 0 || s.SearchRequests != 21 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	hub := newFakeHub(t)
	c := hub.client(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, Communications, "1", GetOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if s := c.Stats(); s.Requests != 0 {
		t.Errorf("sent %d requests on a cancelled context", s.Requests)
	}
}

// utilisation drives the governor alone, n requests in a row on a fake
// clock, answering each like HubSpot would (Pro tier) and checking the
// rolling window itself. It returns sent ÷ allowed and the violations.
//
// allowed is what the window permits over the run: max for every whole
// window from the first send, plus what was sent in the final, partial
// window (there the run ran out of requests, not of budget).
func utilisation(n int) (ratio float64, violations int) {
	const max, window = 190, 10 * time.Second
	clk := newFakeClock()
	g := newGovernor(Options{Burst: 100, Window: window, SearchPerSecond: 4, Clock: clk})
	ctx := context.Background()
	var log, sends []time.Time
	first := clk.Now()
	var last time.Time
	for range n {
		tk, err := g.acquire(ctx, false)
		if err != nil {
			panic(err)
		}
		now := clk.Now()
		cut := now.Add(-window)
		kept := log[:0]
		for _, t := range log {
			if t.After(cut) {
				kept = append(kept, t)
			}
		}
		log = append(kept, now)
		if len(log) > max {
			violations++
		}
		h := http.Header{}
		h.Set(hdrMax, strconv.Itoa(max))
		h.Set(hdrInterval, "10000")
		h.Set(hdrRemaining, strconv.Itoa(max-len(log)))
		g.release(tk, h, true)
		last = now
		sends = append(sends, now)
	}
	whole := int(last.Sub(first) / window)
	tailStart := first.Add(time.Duration(whole) * window)
	tail := 0
	for _, t := range sends {
		if !t.Before(tailStart) {
			tail++
		}
	}
	allowed := float64(max*whole + tail)
	return float64(n) / allowed, violations
}

func TestGovernorUtilisation(t *testing.T) {
	ratio, violations := utilisation(190 * 20)
	if violations != 0 || ratio < 0.97 {
		t.Errorf("utilisation %.4f with %d window violations; want >= 0.97 and none", ratio, violations)
	}
}

// BenchmarkGovernorUtilisation reports requests sent ÷ requests the window
// allows (sent_per_allowed) and fails below 0.97.
func BenchmarkGovernorUtilisation(b *testing.B) {
	n := max(b.N, 190*10)
	b.ResetTimer()
	ratio, violations := utilisation(n)
	b.ReportMetric(ratio, "sent_per_allowed")
	if violations != 0 {
		b.Fatalf("%d window violations", violations)
	}
	if ratio < 0.97 {
		b.Fatalf("utilisation %.4f < 0.97", ratio)
	}
}

func ExampleClient_Budget() {
	c, _ := New(Options{Token: "x"})
	b := c.Budget()
	fmt.Println(b.WindowMax, b.Window, b.DailyRemaining)
	// Output: 100 10s 0
}

func TestGovernorSlowsAfter429AndRecovers(t *testing.T) {
	clk := newFakeClock()
	g := newGovernor(Options{Burst: 190, Window: 10 * time.Second, SearchPerSecond: 4, Clock: clk})
	before := g.limitLocked()
	g.rateLimited(false, "TEN_SECONDLY_ROLLING", 0)
	after := g.limitLocked()
	if after >= before {
		t.Fatalf("limit %d after a 429, want below %d", after, before)
	}
	tk, err := g.acquire(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if d := clk.elapsed(newFakeClock().now); d < 10*time.Second {
		t.Errorf("first request after a 429 without Retry-After waited %v, want a window", d)
	}
	g.release(tk, nil, true)
	for range 1000 {
		tk, _ := g.acquire(context.Background(), false)
		g.release(tk, nil, true)
	}
	if got := g.limitLocked(); got != before {
		t.Errorf("limit %d after 1000 successes, want recovered to %d", got, before)
	}
}
