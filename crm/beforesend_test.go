package crm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBeforeSend: the hook runs right before every attempt (a 429 is
// retried, so twice here), and an error from it sends nothing.
func TestBeforeSend(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			w.Write([]byte(`{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`))
			return
		}
		w.WriteHeader(201)
		w.Write([]byte(`{"status":"COMPLETE","results":[{"id":"1","properties":{}}],"startedAt":"2024-05-01T10:00:00Z","completedAt":"2024-05-01T10:00:00Z"}`))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, Token: "t", Window: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var attempts []int
	ctx := WithBeforeSend(context.Background(), func(attempt int) error {
		attempts = append(attempts, attempt)
		return nil
	})
	if _, err := c.BatchCreate(ctx, Communications, []CreateInput{{ObjectWriteTraceID: "k"}}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int{0, 1}, attempts); d != "" || hits.Load() != 2 {
		t.Errorf("hook attempts (-want +got):\n%s; server hits %d", d, hits.Load())
	}

	boom := errors.New("ledger full")
	ctx = WithBeforeSend(context.Background(), func(int) error { return boom })
	if _, err := c.BatchCreate(ctx, Communications, []CreateInput{{ObjectWriteTraceID: "k"}}); !errors.Is(err, boom) || IsInDoubt(err) {
		t.Errorf("err = %v, want the hook's error and not in doubt", err)
	}
	if hits.Load() != 2 {
		t.Errorf("a refused hook still sent a request (%d hits)", hits.Load())
	}
}
