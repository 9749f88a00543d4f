package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keyplane/keyplane/internal/hugepage"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
)

// Files in the state directory. state.json is written last: it is the commit point, and a wasm
// guest that reads the directory watches it (it is small) to notice a new version.
const (
	BaseFile    = "snapshot.kps"
	DeltaFile   = "delta.kps"
	StateFile   = "state.json"
	TrustedFile = "trusted.json"
)

// stateFile is the content of state.json.
type stateFile struct {
	Workspace  string `json:"workspace"`
	Version    uint64 `json:"version"`
	HighWater  uint64 `json:"high_water"`
	BaseDigest string `json:"base_digest"`
	HasDelta   bool   `json:"has_delta"`
	ExpiresAt  int64  `json:"expires_at"`
}

func (a *Agent) path(name string) string { return filepath.Join(a.cfg.StateDir, name) }

// persist writes the new blob and then state.json, each atomically.
func (a *Agent) persist(s *State, baseBlob, deltaBlob []byte) error {
	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		return err
	}
	if baseBlob != nil {
		// The keys that verified the blobs go beside them: wasm guests reading this directory
		// verify with them too.
		if err := a.writeTrusted(); err != nil {
			return err
		}
		if err := writeAtomic(a.path(BaseFile), baseBlob); err != nil {
			return err
		}
		if err := os.Remove(a.path(DeltaFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if deltaBlob != nil {
		if err := writeAtomic(a.path(DeltaFile), deltaBlob); err != nil {
			return err
		}
	}
	d := s.Base.Digest()
	b, err := json.Marshal(stateFile{Workspace: s.Workspace(), Version: s.Version(), HighWater: a.rules.HighWater,
		BaseDigest: fmt.Sprintf("%x", d[:]), HasDelta: s.Delta != nil, ExpiresAt: s.ExpiresAt()})
	if err != nil {
		return err
	}
	return writeAtomic(a.path(StateFile), b)
}

// restore loads the last good state. Blobs are verified again (the directory is not trusted more
// than the network); a blob below the persisted high-water mark is refused; an expired state is
// kept, since a fail-static edge may still serve it.
func (a *Agent) restore() error {
	if b, err := os.ReadFile(a.path(TrustedFile)); err == nil {
		d, err := trust.Parse(b)
		if err != nil {
			return fmt.Errorf("agent: %s: %w", TrustedFile, err)
		}
		t := *a.trusted.Load()
		for id, k := range trust.All(d) {
			t[id] = k
		}
		a.trusted.Store(&t)
	}
	b, err := os.ReadFile(a.path(StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("agent: %s: %w", StateFile, err)
	}
	a.rules.HighWater = st.HighWater
	baseBlob, err := os.ReadFile(a.path(BaseFile))
	if err != nil {
		a.cfg.Logger.Warn("no persisted snapshot to restore", "err", err)
		return nil
	}
	lim := snapshot.Limits{MaxBytes: a.cfg.MaxBytes}
	base, err := hugepage.Load(baseBlob, func(b []byte) (*snapshot.Snapshot, error) { return snapshot.Open(b, *a.trusted.Load(), lim) })
	if err != nil {
		a.cfg.Logger.Warn("persisted snapshot does not verify; starting empty", "err", err)
		return nil
	}
	var d *snapshot.Delta
	if st.HasDelta {
		if db, err := os.ReadFile(a.path(DeltaFile)); err == nil {
			// a delta that fails leaves the base alone
			d, _ = hugepage.Load(db, func(b []byte) (*snapshot.Delta, error) { return snapshot.OpenDelta(b, *a.trusted.Load(), lim) })
		}
	}
	s, err := a.rules.Restore(base, d)
	if err != nil {
		a.cfg.Logger.Warn("persisted snapshot is older than the high-water mark; starting empty", "high_water", a.rules.HighWater)
		return nil
	}
	a.cur.Store(s)
	a.cfg.Logger.Info("restored the last verified state", "workspace", s.Workspace(), "version", s.Version())
	if a.cfg.OnUpdate != nil {
		a.cfg.OnUpdate(s)
	}
	return nil
}

// learnKeys fetches the published signing keys and trusts those a trusted key endorses, or, on a
// first start with nothing pinned, all of them.
func (a *Agent) learnKeys(ctx context.Context) error {
	status, body, err := a.get(ctx, "/v1/signing-keys")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return httpError(status, body)
	}
	doc, err := trust.Parse(body)
	if err != nil {
		return err
	}
	cur := *a.trusted.Load()
	var next snapshot.Trusted
	if len(cur) == 0 {
		next = trust.All(doc)
		a.cfg.Logger.Warn("trusting the control plane's signing keys on first use; pin them to rule out a first-contact attacker", "keys", len(next))
	} else {
		var added []string
		next, added = trust.Extend(cur, doc)
		if len(added) == 0 {
			return errors.New("agent: the snapshot's signing key is not endorsed by a trusted key")
		}
		a.cfg.Logger.Info("trusting newly endorsed signing keys", "keys", added)
	}
	a.trusted.Store(&next)
	if a.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		return err
	}
	return a.writeTrusted()
}

// writeTrusted keeps the trusted signing keys in trusted.json, sorted so the file only changes
// when the set does.
func (a *Agent) writeTrusted() error {
	out := trust.Document{Keys: []trust.SigningKey{}}
	for id, k := range *a.trusted.Load() {
		out.Keys = append(out.Keys, trust.SigningKey{ID: id, PublicKey: []byte(k)})
	}
	slices.SortFunc(out.Keys, func(x, y trust.SigningKey) int { return strings.Compare(x.ID, y.ID) })
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return writeAtomic(a.path(TrustedFile), b)
}

// writeAtomic replaces path with b: a reader sees the old file or the new one, never a part.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
