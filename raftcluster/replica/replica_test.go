package replica_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

func TestReplica_replicatest(t *testing.T) {
	replicatest.Run(t, mapSubject[*mapDB](mapEngine{}))
}

// splitEngine breaks atomicity: it stores the map and the applied index
// in two files, each written atomically, the map first.
type splitEngine struct{}

type splitDB struct {
	view    vfs.FS
	applied uint64
	m       map[string]int
}

func (splitEngine) Open(view vfs.FS) (*splitDB, error) {
	db := &splitDB{view: view, m: map[string]int{}}
	if b, err := vfs.ReadFile(view, "data.json"); err == nil {
		if err := json.Unmarshal(b, &db.m); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if b, err := vfs.ReadFile(view, "index.json"); err == nil {
		if err := json.Unmarshal(b, &db.applied); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return db, nil
}

func (d *splitDB) Applied() (uint64, error) { return d.applied, nil }
func (d *splitDB) Apply(es []replica.Entry) error {
	next := map[string]int{}
	for k, v := range d.m {
		next[k] = v
	}
	for _, e := range es {
		k, n, err := parseAdd(e.Data)
		if err != nil {
			return err
		}
		next[k] += n
	}
	if err := writeSynced(d.view, "data.json", next); err != nil {
		return err
	}
	d.m = next
	if err := writeSynced(d.view, "index.json", es[len(es)-1].Index); err != nil {
		return err
	}
	d.applied = es[len(es)-1].Index
	return nil
}
func (d *splitDB) Sync() error              { return nil }
func (d *splitDB) Close() error             { return nil }
func (d *splitDB) counters() map[string]int { return d.m }

// batchEngine breaks determinism: a command adds the size of its batch
// too, so members that batch differently diverge.
type batchEngine struct{ mapEngine }

type batchDB struct{ *mapDB }

func (e batchEngine) Open(view vfs.FS) (batchDB, error) {
	db, err := e.mapEngine.Open(view)
	return batchDB{db}, err
}

func (d batchDB) Apply(es []replica.Entry) error {
	bent := make([]replica.Entry, len(es))
	for i, e := range es {
		k, n, err := parseAdd(e.Data)
		if err != nil {
			return err
		}
		bent[i] = replica.Entry{Index: e.Index, Data: fmt.Appendf(nil, "%s+%d", k, n+len(es))}
	}
	return d.mapDB.Apply(bent)
}

// recorder is a testing.TB that records failures instead of failing the
// test, so that a case run on a broken engine can be expected to fail.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *recorder) Errorf(format string, args ...any) {
	r.Fail()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) FailNow()                          { r.Fail(); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }

// failing runs every case on a recorder and returns the names of those
// that failed.
func failing(t *testing.T, cases []replicatest.Case) []string {
	var names []string
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.Test(rec)
			}()
			<-done
			if rec.Failed() {
				names = append(names, c.Name)
				t.Logf("caught: %.300s", strings.TrimSpace(rec.msgs[0]))
			}
		})
	}
	return names
}

func TestReplicatest_catchesBrokenAtomicity(t *testing.T) {
	got := failing(t, replicatest.Cases(mapSubject[*splitDB](splitEngine{})))
	require.Contains(t, got, "crash")
}

func TestReplicatest_catchesBrokenDeterminism(t *testing.T) {
	got := failing(t, replicatest.Cases(mapSubject[batchDB](batchEngine{})))
	require.Contains(t, got, "apply")
}
