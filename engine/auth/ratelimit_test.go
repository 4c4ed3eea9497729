package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

func TestCredentialLimiter(t *testing.T) {
	t.Parallel()
	l := newCredentialLimiter(2, 3) // 2 per second, bursts of 3
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := l.allow("a", now); err != nil {
			t.Fatalf("request %d of the burst: %v", i, err)
		}
	}
	err := l.allow("a", now)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, engine.ErrRateLimited) || rl.RetryAfter != 500*time.Millisecond || rl.RetryAfterSeconds() != 1 {
		t.Fatalf("fourth request: %v", err)
	}
	if err := l.allow("b", now); err != nil {
		t.Errorf("another credential was limited: %v", err)
	}
	// A refused request does not spend a token: half a second later one is there.
	if err := l.allow("a", now.Add(500*time.Millisecond)); err != nil {
		t.Errorf("after the wait it asked for: %v", err)
	}
	var off *credentialLimiter
	if off.allow("x", now) != nil || newCredentialLimiter(0, 10) != nil {
		t.Error("a zero limit must not limit")
	}
}
