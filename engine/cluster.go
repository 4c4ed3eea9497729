package engine

import (
	"context"
	"sync"
	"time"
)

// Nodes sharing one database (a SharedStore) coordinate through two small parts a driver provides:
// a Notifier, so that what one node keeps in memory is dropped on every node when it changes
// anywhere, and a Leader, so that maintenance runs on one node at a time. A node alone on its
// database (SQLite) uses LocalNotifier and no Leader: it always leads.

// Topics a node publishes on its Notifier.
const (
	// TopicCredentialRevoked carries the ID of a revoked credential: every node drops it from its
	// cache of credentials.
	TopicCredentialRevoked = "credential_revoked"
)

// Notifier tells every node on the database, this one included, that something changed.
type Notifier interface {
	// Publish tells every node's subscribers of topic, with payload (an ID). It returns once the
	// notification is sent; other nodes receive it shortly after, and those that cannot (their
	// connection to the database was down) are told Reset instead.
	Publish(ctx context.Context, topic, payload string) error
	// Subscribe calls fn with the payload of every publication on topic, from any node, and with
	// Reset when publications may have been missed (the node reconnected to the database): fn must
	// then drop everything it keeps of the topic. fn must not block.
	Subscribe(topic string, fn func(payload string))
}

// Reset is the payload a subscriber receives when it may have missed publications.
const Reset = ""

// LocalNotifier is the Notifier of a node alone on its database: publications reach this process
// only.
type LocalNotifier struct {
	mu   sync.Mutex
	subs map[string][]func(string)
}

var _ Notifier = (*LocalNotifier)(nil)

// NewLocalNotifier returns a notifier within this process.
func NewLocalNotifier() *LocalNotifier { return &LocalNotifier{subs: map[string][]func(string){}} }

// Publish calls topic's subscribers at once.
func (n *LocalNotifier) Publish(_ context.Context, topic, payload string) error {
	n.Deliver(topic, payload)
	return nil
}

// Subscribe adds fn to topic's subscribers.
func (n *LocalNotifier) Subscribe(topic string, fn func(string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subs[topic] = append(n.subs[topic], fn)
}

// Deliver calls topic's subscribers with payload; a driver's notifier calls it for what it
// receives.
func (n *LocalNotifier) Deliver(topic, payload string) {
	n.mu.Lock()
	subs := n.subs[topic]
	n.mu.Unlock()
	for _, fn := range subs {
		fn(payload)
	}
}

// DeliverAll calls every subscriber with payload: Reset, after a reconnection.
func (n *LocalNotifier) DeliverAll(payload string) {
	n.mu.Lock()
	var all []func(string)
	for _, subs := range n.subs {
		all = append(all, subs...)
	}
	n.mu.Unlock()
	for _, fn := range all {
		fn(payload)
	}
}

// Leader decides which of the nodes on one database runs the maintenance jobs (lease recovery,
// retention, disabling failing subscriptions, the styles' cron jobs).
type Leader interface {
	// Leading reports whether this node leads now, becoming the leader when no node is. A node
	// that lost its connection to the database loses the lead, and another node takes it on its
	// next try.
	Leading(ctx context.Context) (bool, error)
}

// TopicPluginChanged carries the name of a plugin uploaded or deleted: every node loads what the
// PluginStore now holds under that name.
const TopicPluginChanged = "plugin_changed"

// StoredPlugin is an uploaded plugin module as a PluginStore keeps it.
type StoredPlugin struct {
	Name string
	// Hash is the hex SHA-256 of Wasm.
	Hash       string
	Trusted    bool
	Wasm       []byte // empty in ListPlugins
	UploadedAt time.Time
}

// PluginStore keeps uploaded plugin modules where every node on the database reads them, so that
// a plugin uploaded through one node serves on all.
type PluginStore interface {
	// SavePlugin stores p under p.Name, replacing what was there.
	SavePlugin(ctx context.Context, p *StoredPlugin) error
	// DeletePlugin removes the plugin named name; a name with none is no error.
	DeletePlugin(ctx context.Context, name string) error
	// ListPlugins describes every stored plugin, without its module, ordered by name.
	ListPlugins(ctx context.Context) ([]*StoredPlugin, error)
	// GetPlugin returns a stored plugin with its module, or ErrNotFound.
	GetPlugin(ctx context.Context, name string) (*StoredPlugin, error)
}
