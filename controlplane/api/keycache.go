package api

import (
	"context"
	"sync"

	"github.com/keyplane/keyplane/controlplane/store"
)

// keyCache remembers keys found by hash, so that a key calling the API (or being verified
// centrally) costs no database round trip. Any committed change to a workspace, announced by the
// store's Watch (in-process for SQLite; LISTEN/NOTIFY across PostgreSQL replicas, a few
// milliseconds after commit), retires every cached key of that workspace at once by bumping its
// generation; a notice that notices may have been lost retires everything.
type keyCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]cachedKey
	gens    map[string]uint64 // workspace -> generation
	global  uint64
	notices uint64 // every notice, of any workspace
}

type cachedKey struct {
	key         store.Key
	gen, global uint64
}

// maxCachedKeys bounds memory; past it the cache starts over.
const maxCachedKeys = 200_000

func newKeyCache(s store.DataStore) *keyCache {
	c := &keyCache{entries: map[[32]byte]cachedKey{}, gens: map[string]uint64{}}
	if s != nil {
		s.Watch(c.invalidate)
	}
	return c
}

func (c *keyCache) invalidate(workspaceID string, _ int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notices++
	if workspaceID == "" {
		c.global++
		return
	}
	c.gens[workspaceID]++
}

// get finds a key by hash, from the cache when no change to its workspace happened since it was
// cached, else from the store.
func (c *keyCache) get(ctx context.Context, s store.DataStore, hash [32]byte) (store.Key, error) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	fresh := ok && e.gen == c.gens[e.key.WorkspaceID] && e.global == c.global
	c.mu.RUnlock()
	if fresh {
		return e.key, nil
	}
	// A notice that arrives while the store is read may concern this key: then the result is
	// used but not cached.
	c.mu.RLock()
	before := c.notices
	c.mu.RUnlock()
	k, err := s.GetKeyByHash(ctx, hash[:])
	if err != nil {
		return k, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notices != before {
		return k, nil
	}
	if len(c.entries) >= maxCachedKeys {
		clear(c.entries)
	}
	c.entries[hash] = cachedKey{key: k, gen: c.gens[k.WorkspaceID], global: c.global}
	return k, nil
}
