package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// call describes one API operation.
type call struct {
	method string
	path   string
	query  url.Values
	body   any // JSON-encoded when non-nil
	out    any // 2xx body decoded into this when non-nil
	// create marks a write that must never be sent twice (create, batch
	// create, upsert): once the request may have reached HubSpot, a failure
	// is returned as *InDoubtError instead of being retried.
	create bool
	// batchWrite marks batch create/update/upsert/archive: a 400 then means
	// the whole batch was refused (IsBatchRejected).
	batchWrite bool
	search     bool
}

// maxBody bounds what we read from one response (a 200-object page with
// long message bodies is a few MB).
const maxBody = 256 << 20

// Backoff for retryable failures other than 429 (which the governor paces).
const (
	backoffBase = 250 * time.Millisecond
	backoffCap  = 30 * time.Second
)

// do runs one call through the governor with retries.
//
// Retry policy, decided once here:
//   - Connection failures before the request was fully written are retried
//     for every call: HubSpot cannot have acted on a request it never got.
//   - 429 is retried for every call, after the governor's pause: HubSpot's
//     rate limiter refuses the request before it is processed. A DAILY 429
//     is not retried; it ends the run resumably (ErrDailyReserve).
//   - Failures after the request was written (timeout, reset, EOF, a
//     cancelled context, an unreadable 2xx body) are retried only for
//     idempotent calls (GET, batch read, search, update, archive,
//     associations). For creates and upserts they are *InDoubtError.
//   - 5xx is retried for idempotent calls. For creates it is *InDoubtError:
//     a 502/504 from HubSpot's edge can arrive after the backend committed
//     the batch, and no status code or body field promises otherwise, so we
//     cannot argue that re-sending is safe. The batch layer reconciles by
//     searching commlog_key, which costs one search instead of a duplicate.
type beforeSendKey struct{}

// WithBeforeSend returns a context that makes the client call fn after the
// rate governor admits a request and right before each attempt of it goes
// on the wire (attempt counts from 0). An error from fn ends the call with
// nothing sent. The import writes its durable "sent" ledger events here,
// so that a write whose answer was lost cannot reach HubSpot long after
// the ledger's last event (governor waits and retries happen before it).
func WithBeforeSend(ctx context.Context, fn func(attempt int) error) context.Context {
	return context.WithValue(ctx, beforeSendKey{}, fn)
}

// CallBeforeSend runs the function WithBeforeSend put in ctx, if any. Other
// implementations of the client's methods (test fakes) call it where the
// client would.
func CallBeforeSend(ctx context.Context, attempt int) error {
	if fn, ok := ctx.Value(beforeSendKey{}).(func(attempt int) error); ok {
		return fn(attempt)
	}
	return nil
}

func (c *Client) do(ctx context.Context, cl call) error {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("%s %s: encoding request: %w", cl.method, cl.path, err)
		}
	}
	before, _ := ctx.Value(beforeSendKey{}).(func(attempt int) error)
	for attempt := 0; ; attempt++ {
		t, err := c.gov.acquire(ctx, cl.search)
		if err != nil {
			return fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
		}
		if before != nil {
			if err := before(attempt); err != nil {
				c.gov.release(t, nil, false)
				return fmt.Errorf("%s %s: not sent: %w", cl.method, cl.path, err)
			}
		}
		res := c.send(ctx, cl, payload, attempt)
		c.gov.release(t, res.header, res.err == nil && res.status < 400)

		if res.err != nil {
			if res.written && cl.create {
				c.inDoubt.Add(1)
				return &InDoubtError{Method: cl.method, Path: cl.path, Err: res.err}
			}
			if ctx.Err() != nil || attempt >= c.retries {
				return fmt.Errorf("%s %s: %w", cl.method, cl.path, res.err)
			}
			if err := c.backoff(ctx, attempt, 0); err != nil {
				return fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
			}
			continue
		}
		if res.status >= 200 && res.status < 300 {
			if cl.out == nil || len(res.body) == 0 {
				return nil
			}
			if err := json.Unmarshal(res.body, cl.out); err != nil {
				err = fmt.Errorf("decoding %d response: %w", res.status, err)
				if cl.create {
					c.inDoubt.Add(1)
					return &InDoubtError{Method: cl.method, Path: cl.path, Err: err}
				}
				return fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
			}
			return nil
		}

		apiErr := parseError(cl.method, cl.path, res.status, res.header, res.body, c.logPII)
		apiErr.BatchWrite = cl.batchWrite
		switch {
		case res.status == http.StatusTooManyRequests:
			c.rateLimited.Add(1)
			if apiErr.PolicyName == "DAILY" {
				return fmt.Errorf("%w: HubSpot reports the daily limit reached: %w", ErrDailyReserve, apiErr)
			}
			c.gov.rateLimited(cl.search, apiErr.PolicyName, retryAfter(res.header, c.clock.Now()))
			if attempt >= c.retries {
				return apiErr
			}
			c.retried.Add(1)
			continue
		case res.status >= 500:
			if cl.create {
				c.inDoubt.Add(1)
				return &InDoubtError{Method: cl.method, Path: cl.path, Err: apiErr}
			}
			if attempt >= c.retries {
				return apiErr
			}
			if err := c.backoff(ctx, attempt, retryAfter(res.header, c.clock.Now())); err != nil {
				return fmt.Errorf("%w (then %w)", apiErr, err)
			}
			continue
		}
		return apiErr
	}
}

// backoff sleeps a capped, jittered exponential delay (or the server's
// Retry-After when longer) and counts the retry.
func (c *Client) backoff(ctx context.Context, attempt int, floor time.Duration) error {
	d := backoffBase << min(attempt, 10)
	d = min(d, backoffCap)
	d = d/2 + rand.N(d/2+1) // jitter: [d/2, d]
	d = max(d, floor)
	c.retried.Add(1)
	return c.clock.Sleep(ctx, d)
}

// retryAfter parses Retry-After (seconds or HTTP date); 0 when absent.
// HubSpot does not document it, so it is honoured only when present.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

type result struct {
	status  int
	header  http.Header
	body    []byte
	written bool // the whole request reached the wire
	err     error
}

// send makes one HTTP attempt. written tells whether the request was fully
// written, which is what separates a safe retry from an in-doubt write.
func (c *Client) send(ctx context.Context, cl call, payload []byte, attempt int) result {
	// cl.path is already escaped segment by segment (joinPath).
	target := c.base.String() + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var written atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cl.method, target, body)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	c.requests.Add(1)
	if cl.search {
		c.searches.Add(1)
	}
	start := c.clock.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.logRequest(ctx, cl, attempt, 0, start, payload, nil, err)
		return result{written: written.Load(), err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		// The status line arrived, so the request was written and processed.
		err = fmt.Errorf("reading %d response: %w", resp.StatusCode, err)
		c.logRequest(ctx, cl, attempt, resp.StatusCode, start, payload, nil, err)
		return result{status: resp.StatusCode, header: resp.Header, written: true, err: err}
	}
	c.logRequest(ctx, cl, attempt, resp.StatusCode, start, payload, data, nil)
	return result{status: resp.StatusCode, header: resp.Header, body: data, written: true}
}

// logRequest logs one attempt at debug level. The token is never logged;
// bodies (message text, phone numbers, search values) only with LogPII.
func (c *Client) logRequest(ctx context.Context, cl call, attempt, status int, start time.Time, reqBody, respBody []byte, err error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", cl.method),
		slog.String("path", cl.path),
		slog.Int("attempt", attempt),
		slog.Int("status", status),
		slog.Duration("elapsed", c.clock.Now().Sub(start)),
		slog.Int("request_bytes", len(reqBody)),
		slog.Int("response_bytes", len(respBody)),
	}
	if c.logPII {
		if len(cl.query) > 0 {
			attrs = append(attrs, slog.String("query", cl.query.Encode()))
		}
		attrs = append(attrs, slog.String("request_body", truncate(string(reqBody), 4096)),
			slog.String("response_body", truncate(string(respBody), 4096)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "hubspot request", attrs...)
}
