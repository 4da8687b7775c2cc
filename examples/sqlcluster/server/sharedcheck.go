package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
)

// ErrSharedIncoherent: -shared failed the coherence self-check at
// startup; the error names the options that fix each finding.
var ErrSharedIncoherent = errors.New("server: -shared fails the coherence self-check")

// sharedOptions returns how -shared's directory dbDir is opened, after
// the startup self-check (vfs/sharedcheck.SelfCheck) unless
// cfg.SharedSkipCheck: on a network or FUSE mount every open drops the
// file's cached pages (a copier reads past its kernel cache after a
// reset, restart or promotion); -shared-drop-cache drops them before
// every read as well. A directory that fails the self-check is refused
// with ErrSharedIncoherent.
func sharedOptions(ctx context.Context, dbDir string, cfg Config, log *slog.Logger) (vfs.OSOptions, error) {
	o := vfs.OSOptions{DropCache: cfg.SharedDropCache}
	m, err := sharedcheck.MountOf(dbDir)
	if err != nil {
		log.Warn("server: -shared: mount not found; reading through the page cache", "err", err)
	} else {
		o.DropCacheOnOpen = m.Network()
	}
	if cfg.SharedSkipCheck {
		log.Warn("server: -shared-skip-check: the coherence self-check of -shared is skipped; a mount whose client caches are not coherent between hosts can make a copier serve stale pages (run check-shared)",
			"dir", dbDir, "fs", m.Type)
		return o, nil
	}
	rep, err := sharedcheck.SelfCheck(ctx, dbDir, sharedcheck.SelfOptions{PageCacheDropped: o.DropCache || o.DropCacheOnOpen})
	if err != nil {
		return o, fmt.Errorf("server: -shared: self-check: %w", err)
	}
	if !rep.OK() {
		var b strings.Builder
		for _, r := range rep.Failed() {
			fmt.Fprintf(&b, "\n  %s: %s\n    fix: %s", r.Check, r.Example, r.Fix)
		}
		return o, fmt.Errorf("%w (%s on %s):%s\n(-shared-skip-check starts anyway)", ErrSharedIncoherent, m.Type, m.Point, b.String())
	}
	log.Info("server: -shared passed the coherence self-check", "dir", dbDir, "fs", m.Type, "drop_cache_on_open", o.DropCacheOnOpen, "drop_cache", o.DropCache)
	return o, nil
}
