package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestSharedSecretsAreEveryNodes: two nodes on one PostgreSQL database, each with its own pool and
// no data dir in common, get the same server key and certificate (so the same certificate URL and
// signatures every receiver verifies alike), the same admin token, and the same style keys; one of
// them made each. A configured admin token wins over the database's.
func TestSharedSecretsAreEveryNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	now := time.Now()
	k0, gen0, err := sharedServerKeyOf(ctx, stores[0], now)
	if err != nil {
		t.Fatal(err)
	}
	k1, gen1, err := sharedServerKeyOf(ctx, stores[1], now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !gen0 || gen1 {
		t.Errorf("generated: first node %v, second %v; want the first only", gen0, gen1)
	}
	if k0.Fingerprint != k1.Fingerprint || k0.CertificatePath() != k1.CertificatePath() || !k0.Key.Equal(k1.Key) {
		t.Errorf("the nodes hold different keys or certificates: %s, %s", k0.Fingerprint, k1.Fingerprint)
	}

	t0, tgen0, err := sharedAdminTokenOf(ctx, stores[0], "")
	if err != nil {
		t.Fatal(err)
	}
	t1, tgen1, err := sharedAdminTokenOf(ctx, stores[1], "")
	if err != nil {
		t.Fatal(err)
	}
	if t0 == "" || t0 != t1 || !tgen0 || tgen1 {
		t.Errorf("admin tokens %q (made %v), %q (made %v); want one, made by the first node", t0, tgen0, t1, tgen1)
	}
	if got, _, _ := sharedAdminTokenOf(ctx, stores[1], "configured"); got != "configured" {
		t.Errorf("a configured token gives %q", got)
	}

	s0, err := dbSecrets{db: stores[0]}.Secret("upsales-callbacks")
	if err != nil {
		t.Fatal(err)
	}
	s1, err := dbSecrets{db: stores[1]}.Secret("upsales-callbacks")
	if err != nil {
		t.Fatal(err)
	}
	other, err := dbSecrets{db: stores[1]}.Secret("salesking-tokens")
	if err != nil {
		t.Fatal(err)
	}
	if len(s0) != secretBytes || !bytes.Equal(s0, s1) || bytes.Equal(s0, other) {
		t.Errorf("style secrets: %x, %x, another %x; want one %d-byte key per name, the same on both nodes", s0, s1, other, secretBytes)
	}
}
