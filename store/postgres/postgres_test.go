package postgres_test

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
	"github.com/switchyard/switchyard/store/storetest"
)

func open(t *testing.T, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s := open(t, pgtest.NewSchema(t), postgres.Options{})
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
