package node

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/store/postgres"
)

// DefaultMaxPluginBytes caps an uploaded module unless Config.MaxPluginBytes says otherwise. A Go
// plugin built with the standard toolchain is 3-4 MiB.
const DefaultMaxPluginBytes = 32 << 20

// prepareCustomPlugins sets up the manager of the node's custom plugins, beside the built-in ones:
// uploads kept in DataDir/plugins (in the database, on PostgreSQL), and the plugins folder when
// one is configured. loadPlugins loads them.
func (n *Node) prepareCustomPlugins() error {
	maxBytes := n.cfg.MaxPluginBytes
	grants, err := parseKeyGrants(n.cfg.PluginKeyGrants)
	if err != nil {
		return err
	}
	cfg := custom.Config{
		StoreDir: filepath.Join(n.cfg.DataDir, "plugins"), Dir: n.cfg.PluginsDir, PollInterval: n.cfg.PluginsPollInterval,
		Trusted: n.cfg.TrustedPlugins, KeyGrants: grants, MaxModuleBytes: maxBytes, Logger: n.logger,
	}
	if pg, ok := n.store.(*postgres.Store); ok {
		// Every node of the database serves what any of them took.
		cfg.Uploads, cfg.Notifier = pg, n.notifier
	}
	n.custom = custom.New(cfg, n.rt, n.plugins, n.store)
	return nil
}

// parseKeyGrants checks the operator's grants: a grant of a key that cannot be granted is a mistake
// to say at start, not a plugin that fails at its first delivery.
func parseKeyGrants(in map[string][]string) (map[string][]runtime.Grant, error) {
	out := make(map[string][]runtime.Grant, len(in))
	for name, keys := range in {
		for _, k := range keys {
			g, err := runtime.ParseGrant(k)
			if err != nil {
				return nil, fmt.Errorf("plugin key grants: %s: %w", name, err)
			}
			if !slices.Contains(out[name], g) {
				out[name] = append(out[name], g)
			}
		}
	}
	return out, nil
}

// Plugins returns the node's plugin manager.
func (n *Node) Plugins() *custom.Manager { return n.custom }
