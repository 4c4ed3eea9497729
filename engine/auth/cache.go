package auth

import (
	"sync"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// maxCachedPrincipals bounds the principal cache; when it is full it starts over, which costs a
// read per credential and nothing else.
const maxCachedPrincipals = 10000

// principalCache keeps the credentials that authenticated, with their apps, so that a publisher's
// every request does not read both from the database. Only what authenticated is kept, so a stranger
// cannot fill it. Apps never change after creation, and a credential changes only when it is
// revoked, which goes through the engine, whose revocation hook drops it here: the cache is never
// stale on a node that owns its database. On a database several nodes share, a revocation through
// another node arrives through the engine's Notifier; should a notification be lost, entries older
// than the TTL are read again (the fallback).
//
// A generation counter closes the race between a read and a revocation: a lookup that started
// before a revocation does not store what it read after it.
type principalCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedPrincipal
	// ttl is how long an entry is trusted; zero: until it is forgotten.
	ttl time.Duration
}

type cachedPrincipal struct {
	cred *engine.Credential
	app  *engine.App
	at   time.Time
}

func newPrincipalCache(ttl time.Duration) *principalCache {
	return &principalCache{entries: map[string]cachedPrincipal{}, ttl: ttl}
}

func (c *principalCache) get(id string, now time.Time) (cachedPrincipal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.entries[id]
	if ok && c.ttl > 0 && now.Sub(p.at) >= c.ttl {
		delete(c.entries, id)
		return cachedPrincipal{}, false
	}
	return p, ok
}

func (c *principalCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores p unless the cache was invalidated since gen was read.
func (c *principalCache) put(gen uint64, p cachedPrincipal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= maxCachedPrincipals {
		clear(c.entries)
	}
	c.entries[p.cred.ID] = p
}

// forget drops a credential, or every one for engine.Reset, and makes lookups in progress not
// store theirs.
func (c *principalCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == engine.Reset {
		clear(c.entries)
		return
	}
	delete(c.entries, id)
}
