package server_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/server"
	"github.com/holeycow/holeycow/raftcluster"
)

func TestParse_defaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c, err := server.Parse(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "n1" || c.RaftAddr != "127.0.0.1:4002" || c.HTTPAddr != "127.0.0.1:4001" || c.StabilityAddr != "127.0.0.1:4002" {
		t.Errorf("defaults: %+v", c)
	}
	if c.DataDir != filepath.Join(dir, "sqlcluster-n1") || c.SharedDir != filepath.Join(dir, "sqlcluster-shared") {
		t.Errorf("dirs: %s, %s", c.DataDir, c.SharedDir)
	}
	for _, d := range []string{c.DataDir, c.SharedDir} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}
	if c.CopierMode != cluster.DefaultCopierMode || c.RefreshLag != cluster.DefaultRefreshLag {
		t.Errorf("copier mode %v, refresh lag %v", c.CopierMode, c.RefreshLag)
	}
	if c.LogStore != raftcluster.LogStoreWAL || c.SQLiteMode != "wal" {
		t.Errorf("log store %q, sqlite mode %q", c.LogStore, c.SQLiteMode)
	}
	if c.Timeouts != raftcluster.LANTimeouts() {
		t.Errorf("timeouts %+v, want LANTimeouts %+v", c.Timeouts, raftcluster.LANTimeouts())
	}
	if c.TLS() || c.APIAddr() != "http://127.0.0.1:4001" || len(c.Join) != 0 {
		t.Errorf("TLS %v, APIAddr %s, Join %v", c.TLS(), c.APIAddr(), c.Join)
	}
}

func TestParse_join(t *testing.T) {
	dir := t.TempDir()
	c, err := server.Parse([]string{"-id", "n2", "-data", filepath.Join(dir, "d"), "-shared", filepath.Join(dir, "s"),
		"-raft-addr", "127.0.0.1:5002", "-http-addr", "localhost:5001", "-stability-addr", "127.0.0.1:6000",
		"-join", "http://127.0.0.1:4001/, https://h:4011", "-log-level", "debug", "-shared-drop-cache",
		"-sqlite-mode", "truncate", "-raft-timeout", "400ms", "-raft-election-timeout", "300ms", "-raft-leader-lease-timeout", "350ms", "-writer-lease", "250ms",
		"-copier-mode", "refresh", "-refresh-lag", "250ms"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if to := c.Timeouts; c.SQLiteMode != "truncate" || to.Heartbeat != 400*time.Millisecond || to.Election != 300*time.Millisecond ||
		to.LeaderLease != 350*time.Millisecond || to.WriterLease != 250*time.Millisecond || to.Commit != raftcluster.LANTimeouts().Commit {
		t.Errorf("sqlite mode %q, timeouts %+v", c.SQLiteMode, to)
	}
	if c.CopierMode != cluster.CopierRefresh || c.RefreshLag != 250*time.Millisecond {
		t.Errorf("copier mode %v, refresh lag %v", c.CopierMode, c.RefreshLag)
	}
	if strings.Join(c.Join, " ") != "http://127.0.0.1:4001 https://h:4011" || c.StabilityAddr != "127.0.0.1:6000" || c.LogLevel.String() != "DEBUG" || !c.SharedDropCache {
		t.Errorf("%+v", c)
	}
}

func TestParse_help(t *testing.T) {
	var out bytes.Buffer
	if _, err := server.Parse([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-id", "-data", "-shared", "-raft-addr", "-http-addr", "-stability-addr", "-join",
		"-tls-cert", "-tls-key", "-tls-ca", "-auth", "-log-level", "-mutation-log", "-debug",
		"-raft-timeout", "-raft-leader-lease-timeout", "-writer-lease", "-sqlite-mode"} {
		if !strings.Contains(out.String(), "  "+f+" ") && !strings.Contains(out.String(), "  "+f+"\n") {
			t.Errorf("-h does not list %s:\n%s", f, out.String())
		}
	}
}

func TestParse_errors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := func(extra ...string) []string {
		return append([]string{"-data", filepath.Join(dir, "data"), "-shared", filepath.Join(dir, "shared")}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", base("-nope"), "flag provided but not defined"},
		{"extra argument", base("extra"), `unexpected argument "extra"`},
		{"empty id", base("-id", ""), "-id"},
		{"id with slash", base("-id", "a/b"), "-id"},
		{"raft addr without port", base("-raft-addr", "127.0.0.1"), "-raft-addr"},
		{"raft addr bad port", base("-raft-addr", "127.0.0.1:99999"), "port must be 1..65535"},
		{"raft addr unspecified", base("-raft-addr", "0.0.0.0:4002"), "must not be unspecified"},
		{"http addr no host", base("-http-addr", ":4001"), "give a host"},
		{"stability addr bad", base("-stability-addr", "x"), "-stability-addr"},
		{"same addresses", base("-http-addr", "127.0.0.1:4002"), "must differ"},
		{"stability on http port", base("-stability-addr", "127.0.0.1:4001"), "must differ"},
		{"join not a URL", base("-join", "127.0.0.1:4001"), "-join"},
		{"join ftp", base("-join", "ftp://h:1"), "-join"},
		{"join self", base("-join", "http://127.0.0.1:4001"), "own -http-addr"},
		{"tls partial", base("-tls-cert", file), "go together (got 1 of 3)"},
		{"tls missing files", base("-tls-cert", file, "-tls-key", file, "-tls-ca", filepath.Join(dir, "nope")), "no such file"},
		{"tls dir", base("-tls-cert", file, "-tls-key", file, "-tls-ca", dir), "is a directory"},
		{"auth without tls", base("-auth", file), "-auth needs"},
		{"bad log level", base("-log-level", "loud"), "-log-level"},
		{"bad log store", base("-log-store", "rocks"), "-log-store"},
		{"bad sqlite mode", base("-sqlite-mode", "delete"), "-sqlite-mode"},
		{"bad copier mode", base("-copier-mode", "lazy"), "-copier-mode"},
		{"negative lease", base("-stability-lease", "-1s"), "not negative"},
		{"zero join timeout", base("-join-timeout", "0s"), "must be positive"},
		{"leader lease past heartbeat", base("-raft-timeout", "100ms", "-raft-leader-lease-timeout", "200ms"), "at most -raft-timeout"},
		{"zero writer lease", base("-writer-lease", "0s"), "must be positive"},
		{"data parent missing", []string{"-data", filepath.Join(dir, "no", "such"), "-shared", filepath.Join(dir, "s")}, "parent directory"},
		{"shared parent missing", []string{"-data", filepath.Join(dir, "d"), "-shared", filepath.Join(dir, "no", "such")}, "parent directory"},
		{"data is a file", []string{"-data", file, "-shared", filepath.Join(dir, "s")}, "is not a directory"},
		{"data inside shared", []string{"-data", filepath.Join(dir, "s2", "d"), "-shared", filepath.Join(dir, "s2")}, "must not contain each other"},
		{"shared inside data", []string{"-data", filepath.Join(dir, "s4"), "-shared", filepath.Join(dir, "s4", "sh")}, "must not contain each other"},
		{"data equals shared", []string{"-data", filepath.Join(dir, "s3"), "-shared", filepath.Join(dir, "s3")}, "must not contain each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := server.Parse(tt.args, &out)
			if !errors.Is(err, server.ErrUsage) {
				t.Fatalf("Parse(%q) = %v, want ErrUsage", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) = %q, want it to mention %q", tt.args, err, tt.want)
			}
		})
	}
}
