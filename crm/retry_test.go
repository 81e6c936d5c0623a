package crm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// commitThenDrop makes the hub apply matching requests and then close the
// connection without answering: the write happened, the client cannot know.
func commitThenDrop(hub *fakeHub, match func(*http.Request) bool, times int) *atomic.Int32 {
	var hits atomic.Int32
	hub.setHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !match(r) || int(hits.Add(1)) > times {
			return false
		}
		r.Body = http.NoBody
		rec := httptest.NewRecorder()
		hub.route(rec, r, body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			hub.t.Error(err)
			return true
		}
		conn.Close()
		return true
	})
	return &hits
}

func pathIs(suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, suffix) }
}

func TestInDoubtCommitThenDrop(t *testing.T) {
	tests := []struct {
		name string
		path string
		run  func(*Client) error
	}{
		{"batch create", "/batch/create", func(c *Client) error {
			_, err := c.BatchCreate(context.Background(), Communications, []CreateInput{{Properties: map[string]string{KeyProperty: "k1"}, ObjectWriteTraceID: "k1"}})
			return err
		}},
		{"create", "/communications", func(c *Client) error {
			_, err := c.Create(context.Background(), Communications, CreateInput{Properties: map[string]string{"a": "b"}})
			return err
		}},
		{"batch upsert", "/batch/upsert", func(c *Client) error {
			_, err := c.BatchUpsert(context.Background(), Communications, []UpdateInput{{ID: "k9", IDProperty: KeyProperty, Properties: map[string]string{}}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t)
			hits := commitThenDrop(hub, pathIs(tt.path), 100)
			c := hub.client(t, nil)
			err := tt.run(c)
			var doubt *InDoubtError
			if !errors.As(err, &doubt) || !IsInDoubt(err) {
				t.Fatalf("err = %v, want *InDoubtError", err)
			}
			if doubt.Method != http.MethodPost || !strings.HasSuffix(doubt.Path, tt.path) {
				t.Errorf("InDoubtError names %s %s", doubt.Method, doubt.Path)
			}
			if got := hits.Load(); got != 1 {
				t.Errorf("create sent %d times, want exactly once", got)
			}
			if n := hub.count(Communications); n != 1 {
				t.Errorf("server holds %d objects, want the 1 committed", n)
			}
			if s := c.Stats(); s.InDoubt != 1 || s.Retries != 0 {
				t.Errorf("Stats = %+v, want InDoubt 1, Retries 0", s)
			}
		})
	}
}

func TestIdempotentRetriedAfterDrop(t *testing.T) {
	hub := newFakeHub(t)
	hub.mu.Lock()
	o, _ := hub.create(Communications, CreateInput{Properties: map[string]string{"a": "b"}})
	hub.mu.Unlock()
	hits := commitThenDrop(hub, pathIs("/batch/read"), 2)
	c := hub.client(t, nil)
	res, err := c.BatchRead(context.Background(), Communications, BatchReadInput{Inputs: []ObjectID{{o.ID}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 1 || res.Results[0].ID != o.ID {
		t.Errorf("results %+v", res.Results)
	}
	if hits.Load() != 3 || c.Stats().Retries != 2 {
		t.Errorf("sent %d times with %d retries, want 3 and 2", hits.Load(), c.Stats().Retries)
	}
}

// failBeforeWrite fails the first n round trips without sending anything.
type failBeforeWrite struct {
	n    atomic.Int32
	base http.RoundTripper
}

func (f *failBeforeWrite) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		return nil, errors.New("dial tcp 127.0.0.1: connection refused")
	}
	return f.base.RoundTrip(r)
}

func TestCreateRetriedWhenNothingWasSent(t *testing.T) {
	hub := newFakeHub(t)
	rt := &failBeforeWrite{base: http.DefaultTransport}
	rt.n.Store(2)
	c := hub.client(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: rt} })
	if _, err := c.BatchCreate(context.Background(), Communications, []CreateInput{{ObjectWriteTraceID: "k"}}); err != nil {
		t.Fatal(err)
	}
	if n := hub.count(Communications); n != 1 {
		t.Errorf("%d objects, want 1", n)
	}
	if s := c.Stats(); s.Retries != 2 || s.InDoubt != 0 {
		t.Errorf("Stats = %+v, want 2 retries", s)
	}
}

func serverErrors(hub *fakeHub, status, times int) *atomic.Int32 {
	var hits atomic.Int32
	hub.setHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if int(hits.Add(1)) > times {
			return false
		}
		hubError(w, status, "INTERNAL_ERROR", "internal error")
		return true
	})
	return &hits
}

func TestServerErrors(t *testing.T) {
	t.Run("5xx on a create is in doubt, not retried", func(t *testing.T) {
		hub := newFakeHub(t)
		hits := serverErrors(hub, 502, 1)
		c := hub.client(t, nil)
		_, err := c.BatchCreate(context.Background(), Communications, []CreateInput{{ObjectWriteTraceID: "k"}})
		var apiErr *Error
		if !IsInDoubt(err) || !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
			t.Fatalf("err = %v, want in doubt wrapping the 502", err)
		}
		if hits.Load() != 1 {
			t.Errorf("sent %d times, want 1", hits.Load())
		}
	})
	t.Run("5xx on a read is retried", func(t *testing.T) {
		hub := newFakeHub(t)
		hits := serverErrors(hub, 503, 2)
		c := hub.client(t, nil)
		if _, err := c.List(context.Background(), Communications, ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if hits.Load() != 3 || c.Stats().Retries != 2 {
			t.Errorf("sent %d, retries %d; want 3 and 2", hits.Load(), c.Stats().Retries)
		}
	})
	t.Run("retries are capped", func(t *testing.T) {
		hub := newFakeHub(t)
		hits := serverErrors(hub, 500, 1000)
		c := hub.client(t, func(o *Options) { o.MaxRetries = 3 })
		_, err := c.List(context.Background(), Communications, ListOptions{})
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
			t.Fatalf("err = %v, want the 500", err)
		}
		if hits.Load() != 4 {
			t.Errorf("sent %d times, want 4 (1 + 3 retries)", hits.Load())
		}
	})
}

func TestCancelledCreateIsInDoubt(t *testing.T) {
	hub := newFakeHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	hub.setHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		cancel() // the request has arrived: the user interrupts now
		<-release
		return true
	})
	c := hub.client(t, nil)
	_, err := c.Create(ctx, Communications, CreateInput{})
	if !IsInDoubt(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want in doubt wrapping context.Canceled", err)
	}
}

func TestUnreadableCreateResponseIsInDoubt(t *testing.T) {
	hub := newFakeHub(t)
	hub.setHook(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.WriteHeader(201)
		w.Write([]byte(`{"id": "12`))
		return true
	})
	c := hub.client(t, nil)
	if _, err := c.Create(context.Background(), Communications, CreateInput{}); !IsInDoubt(err) {
		t.Fatalf("err = %v, want in doubt", err)
	}
}

func TestBatchRejectedAndPartial(t *testing.T) {
	ctx := context.Background()
	hub := newFakeHub(t)
	c := hub.client(t, nil)

	// Without trace ids one bad input refuses the whole batch.
	_, err := c.BatchCreate(ctx, Communications, []CreateInput{{Properties: map[string]string{"ok": "1"}}, {Properties: map[string]string{"bad": "+4915123456789"}}})
	if !IsBatchRejected(err) || !IsValidation(err) {
		t.Fatalf("err = %v, want a rejected batch", err)
	}
	if strings.Contains(err.Error(), "+4915123456789") {
		t.Errorf("error echoes a value without LogPII: %v", err)
	}
	if want := "POST /crm/v3/objects/communications/batch/create: 400 VALIDATION_ERROR: Property values were not valid: PROPERTY_DOESNT_EXIST(bad)"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", err, want)
	}
	// A single create's 400 is not a batch rejection.
	if _, err := c.Create(ctx, Communications, CreateInput{Properties: map[string]string{"bad": "x"}}); !IsValidation(err) || IsBatchRejected(err) {
		t.Errorf("single create: err = %v, want validation but not batch rejected", err)
	}

	// With trace ids HubSpot answers 207; results come back in reverse.
	inputs := []CreateInput{
		{Properties: map[string]string{KeyProperty: "a"}, ObjectWriteTraceID: "a"},
		{Properties: map[string]string{KeyProperty: "b", "bad": "x"}, ObjectWriteTraceID: "b"},
		{Properties: map[string]string{KeyProperty: "c"}, ObjectWriteTraceID: "c"},
	}
	res, err := c.BatchCreate(ctx, Communications, inputs)
	if err != nil {
		t.Fatal(err)
	}
	out := MatchBatch([]string{"a", "b", "c"}, res, KeyProperty)
	var got []string
	for _, o := range out {
		switch {
		case o.Object != nil:
			got = append(got, o.TraceID+"=ok:"+o.Object.Properties[KeyProperty])
		default:
			got = append(got, o.TraceID+"="+o.Err.Category)
		}
	}
	if diff := cmp.Diff([]string{"a=ok:a", "b=VALIDATION_ERROR", "c=ok:c"}, got); diff != "" {
		t.Errorf("207 outcomes (-want +got):\n%s", diff)
	}
}

func TestErrorsFromServer(t *testing.T) {
	hub := newFakeHub(t)
	c, err := New(Options{BaseURL: hub.srv.URL, Token: "wrong", Clock: hub.clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), Communications, "1", GetOptions{})
	if !IsUnauthorized(err) || IsNotFound(err) {
		t.Errorf("wrong token: err = %v, want unauthorized", err)
	}
	good := hub.client(t, nil)
	_, err = good.Get(context.Background(), Communications, "404404", GetOptions{})
	var apiErr *Error
	if !IsNotFound(err) || !errors.As(err, &apiErr) || apiErr.Message != "Not Found" {
		t.Errorf("missing object with empty body: err = %v", err)
	}
}

func TestLoggingRedacts(t *testing.T) {
	for _, pii := range []bool{false, true} {
		hub := newFakeHub(t)
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := hub.client(t, func(o *Options) { o.Logger = log; o.LogPII = pii })
		if _, err := c.Create(context.Background(), Communications, CreateInput{Properties: map[string]string{"hs_communication_body": "meet at the secret place"}}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Contains(out, "pat-test-secret") {
			t.Errorf("LogPII=%v: token logged: %s", pii, out)
		}
		if got := strings.Contains(out, "secret place"); got != pii {
			t.Errorf("LogPII=%v: body logged = %v: %s", pii, got, out)
		}
		if !strings.Contains(out, "path=/crm/v3/objects/communications") || !strings.Contains(out, "status=201") {
			t.Errorf("LogPII=%v: request not logged: %s", pii, out)
		}
	}
}
