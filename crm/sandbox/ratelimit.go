package sandbox

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// tierLimits are HubSpot's published private-app limits per tier: requests
// per rolling 10 s and per day (hubspot-api.md §3).
var tierLimits = map[string]struct {
	burst int
	daily int64
}{
	"free":       {100, 250_000},
	"starter":    {100, 250_000},
	"pro":        {190, 625_000},
	"enterprise": {190, 1_000_000},
	"unlimited":  {0, 0},
}

// unlimitedMax is the window allowance the "unlimited" tier advertises.
// It is never enforced, but HubSpot always sends the rate-limit headers
// and clients (commlog's among them) pace by them: without headers a
// client would keep its cautious starting guess and never go fast.
const unlimitedMax = 1_000_000

// Tiers lists the accepted Options.Tier values.
func Tiers() []string { return []string{"free", "starter", "pro", "enterprise", "unlimited"} }

// limiter enforces the burst, daily and search limits per token.
//
// Decisions (HubSpot does not document them): a request refused with 429
// counts against neither the window nor the daily quota; search requests
// count against the daily quota but not the 10-second window (the spec
// marks search exempt from "ten-secondly"); the daily quota resets at
// midnight UTC (HubSpot uses the account's time zone).
type limiter struct {
	mu       sync.Mutex
	burst    int
	window   time.Duration
	daily    int64
	searchPS int
	perToken map[string]*tokenState
}

type tokenState struct {
	recent  []time.Time // accepted non-search requests inside the window, oldest first
	search  []time.Time // accepted searches inside the last second
	day     string
	dayUsed int64
}

func newLimiter(opts Options) (*limiter, error) {
	tier := strings.ToLower(opts.Tier)
	if tier == "" {
		tier = "unlimited"
	}
	tl, ok := tierLimits[tier]
	if !ok {
		return nil, fmt.Errorf("sandbox: unknown tier %q (want %s)", opts.Tier, strings.Join(Tiers(), ", "))
	}
	l := &limiter{burst: tl.burst, window: 10 * time.Second, daily: tl.daily, perToken: map[string]*tokenState{}}
	if opts.Burst > 0 {
		l.burst = opts.Burst
	}
	if opts.Window > 0 {
		l.window = opts.Window
	}
	if opts.Daily > 0 {
		l.daily = opts.Daily
	}
	switch {
	case opts.SearchPerSecond > 0:
		l.searchPS = opts.SearchPerSecond
	case opts.SearchPerSecond == 0 && tier != "unlimited":
		l.searchPS = 5
	}
	return l, nil
}

// verdict is what the limiter decided for one request.
type verdict struct {
	policy string // "" when allowed; TEN_SECONDLY_ROLLING, DAILY or SECONDLY
	// headers are set only for non-search requests under a limited tier.
	headers                  bool
	max, remaining           int
	secondly, secondlyRemain int
	daily, dailyRemaining    int64
	intervalMS               int64
	retryAfter               time.Duration
}

func (l *limiter) reset() {
	l.mu.Lock()
	l.perToken = map[string]*tokenState{}
	l.mu.Unlock()
}

func (l *limiter) check(token string, search bool, now time.Time) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.perToken[token]
	if ts == nil {
		ts = &tokenState{}
		l.perToken[token] = ts
	}
	day := now.UTC().Format("2006-01-02")
	if ts.day != day {
		ts.day, ts.dayUsed = day, 0
	}
	cut := now.Add(-l.window)
	n := 0
	for n < len(ts.recent) && !ts.recent[n].After(cut) {
		n++
	}
	ts.recent = ts.recent[n:]

	v := verdict{}
	if search {
		sc := now.Add(-time.Second)
		n := 0
		for n < len(ts.search) && !ts.search[n].After(sc) {
			n++
		}
		ts.search = ts.search[n:]
		if l.daily > 0 && ts.dayUsed >= l.daily {
			v.policy = "DAILY"
			return v
		}
		if l.searchPS > 0 && len(ts.search) >= l.searchPS {
			v.policy = "SECONDLY"
			v.retryAfter = ts.search[0].Add(time.Second).Sub(now)
			return v
		}
		if l.searchPS > 0 {
			ts.search = append(ts.search, now)
		}
		ts.dayUsed++
		return v
	}

	v.headers = true
	v.intervalMS = l.window.Milliseconds()
	v.max = l.burst
	if l.burst == 0 {
		v.max, v.remaining = unlimitedMax, unlimitedMax
	}
	v.secondly = max(v.max/10, 1)
	v.daily = l.daily
	switch {
	case l.daily > 0 && ts.dayUsed >= l.daily:
		v.policy = "DAILY"
		midnight := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		v.retryAfter = midnight.Sub(now)
	case l.burst > 0 && len(ts.recent) >= l.burst:
		v.policy = "TEN_SECONDLY_ROLLING"
		v.retryAfter = ts.recent[0].Add(l.window).Sub(now)
	default:
		if l.burst > 0 {
			ts.recent = append(ts.recent, now)
		}
		ts.dayUsed++
	}
	if v.headers {
		if l.burst == 0 {
			v.secondlyRemain = v.secondly
		} else {
			v.remaining = max(l.burst-len(ts.recent), 0)
			sc, inSecond := now.Add(-time.Second), 0
			for _, t := range ts.recent {
				if t.After(sc) {
					inSecond++
				}
			}
			v.secondlyRemain = max(v.secondly-inSecond, 0)
		}
		if l.daily > 0 {
			v.dailyRemaining = max(l.daily-ts.dayUsed, 0)
		}
	}
	return v
}
