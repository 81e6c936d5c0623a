package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// RunRecord is one line of the run log that sits beside a ledger
// (<ledger>.runs.jsonl): what a run was asked, what it did, and how its
// pace went, second by second. The ledger says what happened to each row;
// the run log carries what the report needs beyond that.
type RunRecord struct {
	RunID      string    `json:"run_id"`
	Operation  string    `json:"operation"`
	Command    []string  `json:"command,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Outcome    string    `json:"outcome"` // ok, rows_failed, in_doubt, stopped, fatal
	Error      string    `json:"error,omitempty"`
	Summary    *Summary  `json:"summary"`
	// WindowMax and WindowMillis are the rate budget the client learnt.
	WindowMax    int      `json:"window_max,omitempty"`
	WindowMillis int64    `json:"window_millis,omitempty"`
	Samples      []Sample `json:"samples"`
}

// Sample is the run's running totals at one moment.
type Sample struct {
	Seconds     float64 `json:"t"`
	Rows        int64   `json:"rows"`
	Created     int64   `json:"created"`
	Failed      int64   `json:"failed"`
	Requests    int64   `json:"requests"`
	RateLimited int64   `json:"rate_limited"`
	Retries     int64   `json:"retries"`
}

// RunLogPath is the run log that belongs to a ledger.
func RunLogPath(ledger string) string {
	return strings.TrimSuffix(ledger, ".csv") + ".runs.jsonl"
}

// sampler takes a Sample every interval until stopped. It keeps at most
// maxSamples: when full, every other one is dropped and later ones are kept
// half as often, so a run of any length is covered end to end in bounded
// memory (~100 KB).
type sampler struct {
	mu      sync.Mutex
	samples []Sample
	stride  int // keep one tick in stride
	ticks   int
	stop    chan struct{}
	done    chan struct{}
}

const maxSamples = 2048

func (s *sampler) keep(smp Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ticks++; s.ticks%s.stride != 0 {
		return
	}
	if len(s.samples) >= maxSamples {
		for i := 1; 2*i < len(s.samples); i++ {
			s.samples[i] = s.samples[2*i]
		}
		s.samples = s.samples[:(len(s.samples)+1)/2]
		s.stride *= 2
	}
	s.samples = append(s.samples, smp)
}

func startSampler(interval time.Duration, take func() Sample) *sampler {
	s := &sampler{stride: 1, stop: make(chan struct{}), done: make(chan struct{})}
	s.samples = append(s.samples, take())
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.keep(take())
			}
		}
	}()
	return s
}

// finish stops sampling, takes a last sample and returns them all.
func (s *sampler) finish(take func() Sample) []Sample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(s.samples, take())
}

// appendRunRecord adds one run to the run log and fsyncs it.
func appendRunRecord(path string, rec RunRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("run log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("run log: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("run log %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("run log %s: %w", path, err)
	}
	return f.Close()
}

// outcomeName names how a run ended, for the run log.
func outcomeName(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrStopped), errors.Is(err, context.Canceled):
		return "stopped"
	case errors.Is(err, ErrInDoubt):
		return "in_doubt"
	case errors.Is(err, ErrRowsFailed):
		return "rows_failed"
	case errors.Is(err, ErrRefused):
		return "refused"
	default:
		return "fatal"
	}
}
