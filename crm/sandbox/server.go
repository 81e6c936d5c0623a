// Package sandbox is a stateful HubSpot-compatible server for commlog's
// demo, tests and benchmarks: same paths, status codes, JSON shapes, error
// bodies, rate-limit headers and limits as HubSpot.
//
// It is an independent implementation of HubSpot's wire format — it shares
// no code with commlog's client — so that it can contradict the client.
// Where HubSpot's behaviour is undocumented the choice made is commented
// at the place it is implemented.
//
// One request pipeline: count → latency → auth → route → rate limit →
// fault → decode → validate → act (state + write-ahead log) → write.
//
// GET / is not API: it is a server-rendered timeline page for people
// (see timeline.go), open without the token.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is an in-memory sandbox with
// no auth, no limits, no lag and no faults.
type Options struct {
	Token string // "" = no auth check
	// Tier is free|starter|pro|enterprise|unlimited ("" = unlimited).
	Tier   string
	Burst  int           // override requests per window (0 = tier's)
	Window time.Duration // override (0 = 10s)
	Daily  int64         // override daily quota (0 = tier's)
	// SearchPerSecond limits search requests per token (0 = 5 on a
	// limited tier, none on "unlimited"; < 0 = none).
	SearchPerSecond int
	// SearchLag is how long a write takes to become visible to search.
	SearchLag       time.Duration
	Latency, Jitter time.Duration
	Faults          Faults
	Seed            int64
	StateDir        string // "" = memory only
	// Contacts seeds N synthetic contacts (+ some companies, deals and tickets).
	Contacts int
	// ContactsFile seeds contacts from a CSV whose header names HubSpot
	// properties or the labels of HubSpot's contacts export.
	ContactsFile string
	// RetryAfter adds a Retry-After header to 429s. HubSpot does not
	// document one, so it is off by default.
	RetryAfter bool
	Logger     *slog.Logger
	// Now is the clock (nil = time.Now): createdAt/updatedAt, the index
	// lag and the rate windows all read it.
	Now func() time.Time
}

// Stats are the sandbox's counters, as served by GET /__sandbox/stats.
type Stats struct {
	Requests       int64          `json:"requests"`
	RateLimited    int64          `json:"rate_limited"`
	FaultsInjected int64          `json:"faults_injected"`
	Objects        map[string]int `json:"objects"`
}

// Record is a copy of one stored object, for tests.
type Record struct {
	ID         string
	Properties map[string]string
	Archived   bool
	// Associations maps an object type name ("contacts") to associated ids.
	Associations map[string][]string
}

// Server is a running sandbox. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	limiter *limiter
	dice    *dice
	mux     *http.ServeMux

	mu  sync.RWMutex // guards st and wal
	st  *store
	wal *wal

	requests, rateLimited, faultsInjected atomic.Int64
	closeOnce                             sync.Once
	closeErr                              error
}

// New builds a sandbox, loading StateDir when it holds state and seeding
// contacts otherwise.
func New(opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	l, err := newLimiter(opts)
	if err != nil {
		return nil, err
	}
	s.limiter = l
	s.dice = newDice(opts.Seed, opts.Faults)
	s.st = newStore(s.now, opts.SearchLag)
	found := false
	if opts.StateDir != "" {
		s.wal, found, err = openState(opts.StateDir, s.st, s.log)
		if err != nil {
			return nil, err
		}
	}
	if !found {
		if err := s.seed(); err != nil {
			if s.wal != nil {
				s.wal.close()
			}
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// seed fills a fresh store from Contacts/ContactsFile and logs it.
func (s *Server) seed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := seedStore(s.st, s.opts); err != nil {
		s.st.pending = nil
		return err
	}
	return s.flushLocked()
}

// flushLocked writes the pending operations to the log and waits for
// them. Caller holds mu.
func (s *Server) flushLocked() error {
	seq, err := s.enqueueLocked()
	if err != nil || seq == 0 {
		return err
	}
	return s.wal.wait(seq)
}

// enqueueLocked queues the pending operations as one log line and returns
// the sequence number to wait for (0: nothing to wait for). Caller holds mu.
func (s *Server) enqueueLocked() (uint64, error) {
	ops := s.st.pending
	s.st.pending = s.st.pending[:0]
	if s.wal == nil || len(ops) == 0 {
		return 0, nil
	}
	return s.wal.enqueue(ops)
}

// Handler returns the sandbox as an http.Handler (e.g. for
// httptest.NewServer). The reset and drop faults hijack the connection, so
// they need an HTTP/1 server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully (in-flight requests finish). It does not Close the Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("sandbox shutdown: %w", err)
	}
	return nil
}

// Close writes a snapshot of the state and closes the log. It is
// idempotent; the Server must not serve afterwards.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.wal == nil {
			return
		}
		err := s.wal.compact(s.st)
		if cerr := s.wal.close(); err == nil {
			err = cerr
		}
		s.closeErr = err
	})
	return s.closeErr
}

// Stats returns the counters /__sandbox/stats serves.
func (s *Server) Stats() Stats {
	st := Stats{Requests: s.requests.Load(), RateLimited: s.rateLimited.Load(), FaultsInjected: s.faultsInjected.Load(),
		Objects: map[string]int{}}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range objectTypes {
		live, archived := 0, 0
		for _, o := range s.st.tables[t.name].byID {
			if o.archived {
				archived++
			} else {
				live++
			}
		}
		st.Objects[t.name] = live
		st.Objects[t.name+"_archived"] = archived
	}
	return st
}

// SetFaults replaces the fault rates from the next request on.
func (s *Server) SetFaults(f Faults) { s.dice.set(f) }

// Objects returns copies of the records of objectType ("communications",
// "contacts", …, or a type id), in id order.
func (s *Server) Objects(objectType string, includeArchived bool) []Record {
	t := lookupType(objectType)
	if t == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tb := s.st.tables[t.name]
	out := make([]Record, 0, len(tb.order))
	for _, id := range tb.order {
		o := tb.byID[id]
		if o.archived && !includeArchived {
			continue
		}
		r := Record{ID: idString(o.id), Archived: o.archived, Properties: make(map[string]string, len(o.props)+3)}
		for k, v := range o.props {
			r.Properties[k] = v
		}
		for _, k := range []string{"hs_object_id", "hs_createdate", "hs_lastmodifieddate", "createdate", "lastmodifieddate"} {
			if v, ok := tb.systemValue(o, o.updated, k); ok {
				r.Properties[k] = v
			}
		}
		if len(o.assoc) > 0 {
			r.Associations = map[string][]string{}
			for toType := range o.assoc {
				for _, id := range associatedIDs(o, toType) {
					r.Associations[toType] = append(r.Associations[toType], idString(id))
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// reset empties the state (then seeds it again as at first start).
func (s *Server) reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.clear()
	s.st.pending = append(s.st.pending, walOp{Op: "reset"})
	if err := seedStore(s.st, s.opts); err != nil {
		s.st.pending = nil
		return err
	}
	s.limiter.reset()
	s.requests.Store(0)
	s.rateLimited.Store(0)
	s.faultsInjected.Store(0)
	return s.flushLocked()
}

// result is what an API handler produces: a status and a JSON body (nil
// for no body).
type result struct {
	status int
	body   any
	// walSeq is the write-ahead-log line that must be written before the
	// response is sent (0: none); see wal.go, group commit.
	walSeq uint64
}

type apiHandler func(r *http.Request) result

func respond(status int, body any) result { return result{status: status, body: body} }

func fail(e *apiError) result { return result{status: e.httpStatus, body: e} }

// route metadata a handler carries for the pipeline.
type routeInfo struct {
	search bool // search endpoints: own rate limit, no limit headers
	write  bool // changes state (drop faults matter most here)
}

type ctxKey struct{}

func (s *Server) handle(pattern string, info routeInfo, h apiHandler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		pr := r.Context().Value(ctxKey{}).(*pipeline)
		pr.run(w, r, info, h)
	})
}

// pipeline is the per-request state shared by serveHTTP and the handlers.
type pipeline struct {
	s     *Server
	token string
	cid   string
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// The timeline page: no API token, counters, latency, limits or
		// faults (see timeline.go).
		s.serveTimeline(w, r)
		return
	}
	cid := newUUID()
	w.Header()["x-hubspot-correlation-id"] = []string{cid}
	if !strings.HasPrefix(r.URL.Path, "/__sandbox/") {
		s.requests.Add(1)
	}
	// Latency is a round trip: the request reaches the server (and is
	// counted by the rate limiter) after the uplink half; the answer takes
	// the other half to come back.
	if d := s.dice.latency(s.opts.Latency, s.opts.Jitter); d > 0 {
		if !sleepCtx(r.Context(), d/2) {
			return
		}
		defer sleepCtx(r.Context(), d-d/2)
	}
	token := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimSpace(h[len("Bearer "):])
	}
	if s.opts.Token != "" && token != s.opts.Token {
		// HubSpot's body for a missing or wrong private-app token.
		e := newAPIError(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
		e.CorrelationID = cid
		w.Header()["x-hubspot-auth-failure"] = []string{"401 Unauthorized"}
		writeJSON(w, e.httpStatus, e)
		return
	}
	pr := &pipeline{s: s, token: token, cid: cid}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, pr)))
}

// run is the part of the pipeline after routing: limits, faults, act, write.
func (pr *pipeline) run(w http.ResponseWriter, r *http.Request, info routeInfo, h apiHandler) {
	s := pr.s
	introspection := strings.HasPrefix(r.URL.Path, "/__sandbox/") || r.URL.Path == "/"
	if !introspection {
		v := s.limiter.check(pr.token, info.search, s.now())
		if v.headers {
			setLimitHeaders(w, v)
		}
		if v.policy != "" {
			s.rateLimited.Add(1)
			pr.write429(w, v)
			return
		}
	}
	fault := faultNone
	if !introspection {
		fault = s.dice.roll()
	}
	if fault != faultNone {
		s.faultsInjected.Add(1)
	}
	switch fault {
	case fault5xx:
		codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
		code := codes[s.dice.intN(len(codes))]
		if code == http.StatusBadGateway {
			// HubSpot's edge answers 502 with an HTML page, not JSON.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(code)
			io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n")
			return
		}
		e := newAPIError(code, "INTERNAL_ERROR", "internal error")
		if code == http.StatusServiceUnavailable {
			e.Category, e.Message = "SERVICE_UNAVAILABLE", "Service Unavailable"
		}
		e.CorrelationID = pr.cid
		writeJSON(w, code, e)
		return
	case fault429:
		v := verdict{policy: "TEN_SECONDLY_ROLLING", retryAfter: time.Second}
		s.rateLimited.Add(1)
		pr.write429(w, v)
		return
	case faultReset:
		hijackClose(w, true)
		return
	case faultSlow:
		d := s.dice.get().SlowDelay
		if d <= 0 {
			d = 2 * time.Second
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	res := h(r)
	if res.walSeq != 0 {
		if err := s.wal.wait(res.walSeq); err != nil {
			s.log.Error("sandbox: write-ahead log", "err", err)
			res = fail(newAPIError(http.StatusInternalServerError, "INTERNAL_ERROR", "sandbox could not persist the write: %v", err))
		}
	}
	if fault == faultDrop {
		// The write is applied; the client never hears about it.
		hijackClose(w, false)
		return
	}
	if e, isErr := res.body.(*apiError); isErr && e.CorrelationID == "" {
		e.CorrelationID = pr.cid
	}
	if res.body == nil {
		w.WriteHeader(res.status)
		return
	}
	writeJSON(w, res.status, res.body)
}

func (pr *pipeline) write429(w http.ResponseWriter, v verdict) {
	body := rateLimitBody{Status: "error", ErrorType: "RATE_LIMIT", CorrelationID: pr.cid, PolicyName: v.policy, RequestID: newUUID()}
	switch v.policy {
	case "DAILY":
		body.Message = "You have reached your daily limit."
	case "SECONDLY":
		body.Message = "You have reached your secondly limit."
	default:
		body.Message = "You have reached your ten_secondly_rolling limit."
	}
	if pr.s.opts.RetryAfter && v.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((v.retryAfter+time.Second-1)/time.Second), 10))
	}
	writeJSON(w, http.StatusTooManyRequests, body)
}

// setLimitHeaders writes HubSpot's rate-limit headers with HubSpot's
// spelling (set directly: Header.Set would canonicalise "HubSpot").
func setLimitHeaders(w http.ResponseWriter, v verdict) {
	h := w.Header()
	if v.max > 0 {
		h["X-HubSpot-RateLimit-Interval-Milliseconds"] = []string{strconv.FormatInt(v.intervalMS, 10)}
		h["X-HubSpot-RateLimit-Max"] = []string{strconv.Itoa(v.max)}
		h["X-HubSpot-RateLimit-Remaining"] = []string{strconv.Itoa(v.remaining)}
		// Deprecated by HubSpot ("no longer enforced") but still sent.
		h["X-HubSpot-RateLimit-Secondly"] = []string{strconv.Itoa(v.secondly)}
		h["X-HubSpot-RateLimit-Secondly-Remaining"] = []string{strconv.Itoa(v.secondlyRemain)}
	}
	if v.daily > 0 {
		h["X-HubSpot-RateLimit-Daily"] = []string{strconv.FormatInt(v.daily, 10)}
		h["X-HubSpot-RateLimit-Daily-Remaining"] = []string{strconv.FormatInt(v.dailyRemaining, 10)}
	}
}

// hijackClose ends the connection without a response; rst makes the close
// a TCP reset rather than an orderly FIN.
func hijackClose(w http.ResponseWriter, rst bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	buf := getBuf()
	defer putBuf(buf)
	b, err := marshalAppend((*buf)[:0], body)
	if err != nil {
		b = append(b[:0], `{"status":"error","message":"internal error","category":"INTERNAL_ERROR"}`...)
		status = http.StatusInternalServerError
	}
	*buf = b
	h := w.Header()
	h["Content-Type"] = []string{"application/json;charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// decode reads a JSON request body into v, answering HubSpot's
// "Invalid input JSON" 400 when it does not parse.
func decode(r *http.Request, v any) *apiError {
	buf := getBuf()
	defer putBuf(buf)
	b, err := readBody(*buf, r)
	*buf = b
	if err != nil {
		return badRequest("Invalid input JSON: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := lineCol(b, se.Offset)
			return badRequest("Invalid input JSON on line %d, column %d: %v", line, col, se)
		case errors.As(err, &te):
			line, col := lineCol(b, te.Offset)
			return badRequest("Invalid input JSON on line %d, column %d: %s: want %v", line, col, te.Field, te.Type)
		default:
			return badRequest("Invalid input JSON: %v", err)
		}
	}
	return nil
}

// maxBody bounds a request body (HubSpot's own limit is not documented;
// 100 inputs with long bodies stay far below it).
const maxBody = 64 << 20

// readBody reads r's body into dst (reused from a pool: json.Unmarshal
// copies every string it keeps, so the buffer may be reused afterwards).
func readBody(dst []byte, r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= maxBody && int64(cap(dst)) < n+1 {
		dst = make([]byte, 0, n+1)
	}
	lr := io.LimitReader(r.Body, maxBody)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := lr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func lineCol(b []byte, off int64) (int, int) {
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// sleepCtx sleeps for d unless the request goes away first; it reports
// whether the full time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
