package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUnlimitedTierAdvertisesItsBudget: "unlimited" never refuses, but it
// still sends HubSpot's rate-limit headers so that a client pacing by them
// learns it may go fast.
func TestUnlimitedTierAdvertisesItsBudget(t *testing.T) {
	s, err := New(Options{Tier: "unlimited"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for i := 0; i < 3; i++ {
		resp, err := http.Post(ts.URL+"/crm/v3/objects/communications", "application/json",
			strings.NewReader(`{"properties":{"hs_timestamp":"2024-05-01T10:00:00Z","hs_communication_channel_type":"SMS","hs_communication_logged_from":"CRM"}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 201 || h.Get("X-HubSpot-RateLimit-Max") != "1000000" ||
			h.Get("X-HubSpot-RateLimit-Remaining") != "1000000" || h.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" {
			t.Fatalf("status %d, headers %v", resp.StatusCode, h)
		}
		if h.Get("X-HubSpot-RateLimit-Daily") != "" {
			t.Error("unlimited tier sent a daily limit")
		}
	}
}
