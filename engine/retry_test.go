package engine

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDefaultScheduleAndJitter(t *testing.T) {
	t.Parallel()
	var p *RetryPolicy // nil: the default
	if got := p.MaxAttempts(); got != 8 {
		t.Fatalf("max attempts %d, want 8", got)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for i, w := range want {
		for range 50 {
			d, ok := p.NextDelay(i+1, 0)
			if !ok || d < w*9/10 || d > w*11/10 {
				t.Fatalf("after attempt %d: %v (%v), want %v ±10%%", i+1, d, ok, w)
			}
		}
	}
	if _, ok := p.NextDelay(8, 0); ok {
		t.Error("an 8th failure must leave no attempts")
	}
}

func TestRetryAfterIsHonouredWithinBounds(t *testing.T) {
	t.Parallel()
	var p *RetryPolicy
	if d, _ := p.NextDelay(1, 90*time.Second); d != 90*time.Second {
		t.Errorf("Retry-After 90s gave %v", d)
	}
	if d, _ := p.NextDelay(1, 72*time.Hour); d != MaxRetryAfter {
		t.Errorf("Retry-After 72h gave %v, want the %v bound", d, MaxRetryAfter)
	}
	if _, ok := p.NextDelay(8, time.Second); ok {
		t.Error("Retry-After must not add attempts")
	}
}

func TestCustomScheduleFromJSON(t *testing.T) {
	t.Parallel()
	var p RetryPolicy
	if err := json.Unmarshal([]byte(`{"schedule": ["100ms", 2, "1m"]}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.MaxAttempts() != 4 || time.Duration(p.Schedule[1]) != 2*time.Second {
		t.Fatalf("%+v", p)
	}
	for _, bad := range []string{`{"schedule": ["soon"]}`, `{"schedule": [true]}`} {
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := (&RetryPolicy{Schedule: []Duration{Duration(-time.Second)}}).Validate(); err == nil {
		t.Error("a negative wait validated")
	}
	if err := (&RetryPolicy{Schedule: make([]Duration, 51)}).Validate(); err == nil {
		t.Error("51 retries validated")
	}
}

func TestPatternsOverlap(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"client.create", "client.*", true}, {"client.*", "client.create", true}, {"*", "client.create", true},
		{"*.delete", "client.*", true}, {"*.delete", "client.create", false}, {"invoice.*", "client.*", false},
		{"client.create", "client.update", false}, {"*.*", "a.b", true},
	} {
		if got := patternsOverlap(c.a, c.b); got != c.want {
			t.Errorf("patternsOverlap(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
