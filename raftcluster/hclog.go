package raftcluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog routes hashicorp/raft's hclog output into a *slog.Logger.
// Warnings and errors about one peer repeat at most once per
// repeatEvery (see repeats).
//
// Concurrency: safe for concurrent use (slog.Logger and repeats are).
type slogHCLog struct {
	l       *slog.Logger
	name    string
	implied []any
	rep     *repeats // shared by the loggers derived with With and Named
}

var _ hclog.Logger = (*slogHCLog)(nil)

func newHCLog(l *slog.Logger, name string) hclog.Logger {
	return &slogHCLog{l: l, name: name, rep: &repeats{}}
}

// repeatEvery is how often a warning or error about one peer is logged
// while it repeats: hashicorp/raft logs each failed heartbeat and
// replication attempt to an unreachable peer, several times a second.
const repeatEvery = 10 * time.Second

// repeats rate-limits warnings and errors that name a peer: the first of
// a kind (message and peer) is logged, then at most one per repeatEvery,
// carrying how many were left out since the last one ("suppressed").
//
// Concurrency: safe for concurrent use.
type repeats struct {
	mu   sync.Mutex
	seen map[[2]string]*repeat
}

type repeat struct {
	last       time.Time
	suppressed int
}

// maxRepeatKinds bounds the kinds remembered (forgotten all at once
// beyond it: a kind then logs once more).
const maxRepeatKinds = 1024

// allow reports whether a record with msg and args may be logged now, and
// how many like it were left out since the last one logged.
func (r *repeats) allow(msg string, args []any) (bool, int) {
	peer, ok := peerOf(args)
	if !ok {
		return true, 0
	}
	now := time.Now()
	k := [2]string{msg, peer}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil || len(r.seen) >= maxRepeatKinds {
		r.seen = make(map[[2]string]*repeat)
	}
	p := r.seen[k]
	if p == nil {
		r.seen[k] = &repeat{last: now}
		return true, 0
	}
	if now.Sub(p.last) < repeatEvery {
		p.suppressed++
		return false, 0
	}
	n := p.suppressed
	p.last, p.suppressed = now, 0
	return true, n
}

// peerOf returns the value of a "peer" or "server-id" key in args.
func peerOf(args []any) (string, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && (k == "peer" || k == "server-id") {
			return fmt.Sprint(args[i+1]), true
		}
	}
	return "", false
}

func toSlogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	lv := toSlogLevel(level)
	if lv >= slog.LevelError && deferredSnapshot(args) {
		lv = slog.LevelDebug // routine on copiers under load, not a failure
	}
	if lv == slog.LevelInfo && routineSnapshot[msg] {
		lv = slog.LevelDebug // every second or so with eager compaction
	}
	ctx := context.Background()
	if !h.l.Enabled(ctx, lv) {
		return
	}
	all := make([]any, 0, len(h.implied)+len(args)+4)
	if h.name != "" {
		all = append(all, "logger", h.name)
	}
	all = append(all, h.implied...)
	all = append(all, args...)
	if lv >= slog.LevelWarn && h.rep != nil {
		ok, left := h.rep.allow(msg, all)
		if !ok {
			return
		}
		if left > 0 {
			all = append(all, "suppressed", left)
		}
	}
	h.l.Log(ctx, lv, msg, all...)
}

func (h *slogHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *slogHCLog) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), toSlogLevel(l))
}
func (h *slogHCLog) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *slogHCLog) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *slogHCLog) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *slogHCLog) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *slogHCLog) IsError() bool { return h.enabled(hclog.Error) }

func (h *slogHCLog) ImpliedArgs() []any { return h.implied }

func (h *slogHCLog) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *slogHCLog) Name() string { return h.name }

func (h *slogHCLog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel is a no-op: the slog handler decides what is logged.
func (h *slogHCLog) SetLevel(hclog.Level) {}

// GetLevel reports the most verbose level the slog handler accepts.
func (h *slogHCLog) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

func (h *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *slogHCLog) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	lv := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		lv = opts.ForceLevel
	}
	return writerFunc(func(p []byte) (int, error) {
		h.Log(lv, strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// routineSnapshot holds hashicorp/raft's info messages about periodic
// snapshots and compaction, which eager compaction makes routine.
var routineSnapshot = map[string]bool{
	"starting snapshot up to": true, "snapshot complete up to": true, "creating new snapshot": true,
	"compacting logs": true, "no logs to truncate": true, "reaping snapshot": true,
}

// deferredSnapshot reports whether a log line's arguments hold the error
// of a snapshot that the FSM deferred (hashicorp/raft wraps it with %v, so
// only its text is left).
func deferredSnapshot(args []any) bool {
	for _, a := range args {
		if err, ok := a.(error); ok && strings.Contains(err.Error(), errSnapshotDeferred.Error()) {
			return true
		}
	}
	return false
}
