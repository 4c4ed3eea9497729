// Package memo remembers what a pure function of a string returned, so that a hot path computes it
// once per string. It is for values few at a time but free to change over the years (receiver
// URLs): past its bound it forgets everything at once, so strings no longer in use cannot pile up,
// and the cost of forgetting is one computation per string still in use.
package memo

import "sync"

// Memo is safe for concurrent use.
type Memo[V any] struct {
	compute func(string) (V, error)
	bound   int

	mu    sync.RWMutex
	known map[string]V
}

// New returns a memo of compute that holds at most bound results. compute must depend on its
// argument alone; its errors are returned and not remembered.
func New[V any](bound int, compute func(string) (V, error)) *Memo[V] {
	return &Memo[V]{compute: compute, bound: bound, known: map[string]V{}}
}

// Get returns compute(key), computing it only if it is not remembered.
func (m *Memo[V]) Get(key string) (V, error) {
	m.mu.RLock()
	v, ok := m.known[key]
	m.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := m.compute(key)
	if err != nil {
		return v, err
	}
	m.mu.Lock()
	if len(m.known) >= m.bound {
		clear(m.known)
	}
	m.known[key] = v
	m.mu.Unlock()
	return v, nil
}

// Len is how many results it holds.
func (m *Memo[V]) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.known)
}
