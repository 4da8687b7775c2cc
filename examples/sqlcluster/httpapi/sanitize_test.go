package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// failing is a Backend whose Execute and Ready fail with err (fault
// injection over a real Standalone).
type failing struct {
	*Standalone
	err error
}

func (f *failing) Execute(context.Context, sqlnode.Request) (sqlnode.Response, error) {
	return sqlnode.Response{}, f.err
}

func (f *failing) Ready(context.Context) error { return f.err }

// TestServer_fail_hidesPaths: an error that names a file (a Raft or
// storage error) reaches the client without the path, and the log with it
// (issue 16: a Raft error leaked a file path to HTTP clients).
func TestServer_fail_hidesPaths(t *testing.T) {
	const secret = "/srv/secret-data/raft"
	pathErr := &fs.PathError{Op: "open", Path: secret + "/raft.db", Err: syscall.EIO}
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		keep, drop string
	}{
		{"500 with a PathError", fmt.Errorf("raft: storing logs: %w", pathErr), 500, internalMessage, "raft.db"},
		{"503 with a PathError", fmt.Errorf("%w: %w", ErrUnavailable, pathErr), 503, "open [path]: input/output error", ""},
		{"503 with a path in the text", fmt.Errorf("%w: snapshot %s/snapshots/2-10 failed", ErrUnavailable, secret), 503, "snapshot [path] failed", ""},
		{"504 with a path in quotes", fmt.Errorf("reading %q: %w", secret+"/x", context.DeadlineExceeded), 504, "[path]", ""},
		{"500 outcome unknown says so", fmt.Errorf("%w: raftcluster: apply: outcome unknown: leadership lost while committing log (%w)", ErrOutcomeUnknown, pathErr), 500,
			"leadership lost while committing log", internalMessage},
		{"400 keeps a URL", fmt.Errorf("%w: leader at http://10.0.0.1:4001/db/x unknown", ErrBadRequest), 400, "http://10.0.0.1:4001/db/x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			ts := startServer(t, &failing{Standalone: newTestStandalone(t, "n1"), err: tc.err},
				Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			code, body := ts.do(t, "POST", "/db/execute", `["INSERT INTO t VALUES(1)"]`)
			if code != tc.status || strings.Contains(body, secret) || !strings.Contains(body, tc.keep) ||
				(tc.drop != "" && strings.Contains(body, tc.drop)) {
				t.Errorf("got %d %s; want %d with %q, without %q or %q", code, body, tc.status, tc.keep, secret, tc.drop)
			}
			if strings.Contains(tc.err.Error(), secret) && !strings.Contains(strings.Join(logs.lines(), "\n"), secret) {
				t.Errorf("the log lost the whole error: %q", logs.lines())
			}
		})
	}
	t.Run("readyz", func(t *testing.T) {
		ts := startServer(t, &failing{Standalone: newTestStandalone(t, "n1"), err: fmt.Errorf("%w: %w", ErrUnavailable, pathErr)}, Config{})
		code, body := ts.do(t, "GET", "/readyz", "")
		if code != http.StatusServiceUnavailable || strings.Contains(body, secret) || !strings.Contains(body, "[path]") {
			t.Errorf("readyz: %d %q", code, body)
		}
	})
}

func TestClientMessage_relativePath(t *testing.T) {
	err := fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errors.New("renaming"),
		&fs.PathError{Op: "x", Path: "rel/a", Err: fs.ErrExist}))
	if msg, redacted := clientMessage(err, 503); !redacted || strings.Contains(msg, "rel/a") {
		t.Errorf("clientMessage(%v) = %q, %v", err, msg, redacted)
	}
}
