package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// testTimeouts are clustertest's, doubled: the machine running the tests
// is shared and loaded.
func testTimeouts() raftcluster.Timeouts {
	to := clustertest.TestTimeouts()
	to.Heartbeat, to.Election, to.LeaderLease, to.WriterLease = 2*to.Heartbeat, 2*to.Election, 2*to.LeaderLease, 2*to.WriterLease
	return to
}

// The demo's story end to end, with a shorter workload.
func TestRun_checksPass(t *testing.T) { testRun(t, "TRUNCATE", "FULL") }

// TestRun_checksPass_WAL: the same with the shared database in WAL mode,
// where the database's pages sit in its WAL until a checkpoint (the
// database size the demo reports counts it).
func TestRun_checksPass_WAL(t *testing.T) { testRun(t, "WAL", "NORMAL") }

func testRun(t *testing.T, journal, syncMode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := run(ctx, &out, demoOptions{Workload: 1500 * time.Millisecond, Accounts: 10, Clients: 3, FillerRows: 500, Dir: t.TempDir(), MemRaft: true, Timeouts: testTimeouts(),
		JournalMode: journal, Synchronous: syncMode})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("checks failed: %+v", res)
	}
	if res.Nodes != 3 || res.FailoverMS <= 0 || res.JoinBytes <= 0 || res.SharedNothingBytes != 3*res.DBBytes ||
		res.JoinBytes >= res.DBBytes || res.DiskBytes < res.SharedBytes || res.SpaceAmplification <= 0 {
		t.Errorf("figures: %+v", res)
	}
	for _, want := range []string{"failover:", "reset:", "joined", "integrity_check"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
