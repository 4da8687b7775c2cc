package raftcluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A snapshot the FSM defers (the application's durable index behind) is
// routine on copiers under load: hashicorp/raft's "failed to take
// snapshot" for it is logged at debug level, as are its messages about
// periodic snapshots; other snapshot failures stay errors.
func TestHCLog_deferredSnapshotIsDebug(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")
	// hashicorp/raft wraps the FSM's error with %v.
	l.Error("failed to take snapshot", "error", fmt.Errorf("failed to start snapshot: %v", errSnapshotDeferred))
	if buf.Len() != 0 {
		t.Fatalf("deferred snapshot logged at info or above: %s", buf.String())
	}
	l.Info("starting snapshot up to", "index", 42) // routine with eager compaction
	if buf.Len() != 0 {
		t.Fatalf("routine snapshot logged at info: %s", buf.String())
	}
	l.Error("failed to take snapshot", "error", errors.New("disk full"))
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Fatalf("other snapshot failure not logged as an error: %q", buf.String())
	}
}
