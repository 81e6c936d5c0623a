// Package crm is commlog's HubSpot client: typed wire structs, one rate
// governor per token, retries that never duplicate a create, and typed errors.
//
// Every method blocks only as long as its context allows. All goroutines that
// share a *Client share its governor, so a Client per token (not per worker)
// is the unit that respects HubSpot's limits.
package crm

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Options configures a Client. Zero values take the documented defaults.
type Options struct {
	BaseURL         string        // default "https://api.hubapi.com"
	Token           string        // private app access token, sent as Bearer
	HTTPClient      *http.Client  // default: own transport with dial/TLS/header timeouts, no overall Timeout
	Logger          *slog.Logger  // nil = discard; requests are logged at debug level
	LogPII          bool          // log request/response bodies and keep values in error messages
	UserAgent       string        // default "commlog/dev"
	TPS             float64       // user cap, requests/s across all goroutines; 0 = no cap
	DailyReserve    int64         // stop (ErrDailyReserve) when daily remaining <= this; 0 = none
	MaxRetries      int           // default 8
	Burst           int           // requests per window before headers are seen (default 100, Free tier)
	Window          time.Duration // window before headers are seen (default 10s)
	SearchPerSecond float64       // default 4 (HubSpot allows 5/s; leave headroom)
	Clock           Clock         // nil = real time
}

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// Client talks to one HubSpot portal with one token. Safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	hc        *http.Client
	log       *slog.Logger
	logPII    bool
	userAgent string
	retries   int
	clock     Clock
	gov       *governor

	requests, rateLimited, retried, inDoubt, searches atomic.Int64
}

// Stats counts what the client did so far.
type Stats struct {
	Requests       int64 // HTTP requests sent (including retries)
	RateLimited    int64 // 429 responses seen
	Retries        int64 // requests re-sent after a retryable failure
	InDoubt        int64 // writes returned as *InDoubtError
	SearchRequests int64 // search requests sent
}

// New checks opts and builds a Client.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil {
		return nil, errors.New("crm: invalid BaseURL: " + err.Error())
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, errors.New("crm: BaseURL must be an absolute http(s) URL, got " + opts.BaseURL)
	}
	if opts.Token == "" {
		return nil, errors.New("crm: Token is required")
	}
	if opts.TPS < 0 || opts.DailyReserve < 0 || opts.MaxRetries < 0 || opts.Burst < 0 || opts.Window < 0 || opts.SearchPerSecond < 0 {
		return nil, errors.New("crm: TPS, DailyReserve, MaxRetries, Burst, Window and SearchPerSecond must not be negative")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "commlog/dev"
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 8
	}
	if opts.Burst == 0 {
		opts.Burst = 100
	}
	if opts.Window == 0 {
		opts.Window = 10 * time.Second
	}
	if opts.SearchPerSecond == 0 {
		opts.SearchPerSecond = 4
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	return &Client{
		base:      base,
		token:     opts.Token,
		hc:        opts.HTTPClient,
		log:       opts.Logger,
		logPII:    opts.LogPII,
		userAgent: opts.UserAgent,
		retries:   opts.MaxRetries,
		clock:     opts.Clock,
		gov:       newGovernor(opts),
	}, nil
}

// defaultHTTPClient bounds connecting and waiting for response headers but
// sets no overall timeout, so a large page can take as long as it takes;
// callers bound whole calls with their context.
func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// Stats returns the counters so far; safe for concurrent use.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:       c.requests.Load(),
		RateLimited:    c.rateLimited.Load(),
		Retries:        c.retried.Load(),
		InDoubt:        c.inDoubt.Load(),
		SearchRequests: c.searches.Load(),
	}
}

// Budget returns what the governor has learnt about the token's limits.
func (c *Client) Budget() Budget { return c.gov.budget() }

// objectPath builds "/crm/v3/objects/{type}/{id…}" with escaped segments.
func objectPath(objectType string, rest ...string) string {
	return joinPath(append([]string{"crm", "v3", "objects", objectType}, rest...)...)
}

func joinPath(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
