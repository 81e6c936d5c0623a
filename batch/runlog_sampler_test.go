package batch

import "testing"

// TestSamplerStaysBoundedAndCoversTheRun feeds a day of one-second ticks:
// the samples stay within maxSamples, evenly spaced, first to last.
func TestSamplerStaysBoundedAndCoversTheRun(t *testing.T) {
	s := &sampler{stride: 1, samples: []Sample{{Seconds: 0}}}
	const ticks = 86400
	for i := 1; i <= ticks; i++ {
		s.keep(Sample{Seconds: float64(i)})
	}
	n := len(s.samples)
	if n > maxSamples || n < maxSamples/2 {
		t.Fatalf("%d samples after %d ticks, want between %d and %d", n, ticks, maxSamples/2, maxSamples)
	}
	step := s.samples[1].Seconds - s.samples[0].Seconds
	for i := 1; i < n; i++ {
		if d := s.samples[i].Seconds - s.samples[i-1].Seconds; d != step {
			t.Fatalf("samples %d and %d are %v s apart, others %v s", i-1, i, d, step)
		}
	}
	if last := s.samples[n-1].Seconds; last < ticks-step {
		t.Errorf("last sample at %v s, run lasted %d s", last, ticks)
	}
}
