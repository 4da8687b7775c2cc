package sqlnode

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"pgregory.net/rapid"
)

// nodeMachine checks a Node against a model: a key-value table and the
// applied index. Entries get replayed, restarts replay the whole log, and
// failing requests change nothing but the index.
type nodeMachine struct {
	vfsName string
	opts    Options
	n       *Node
	log     []Entry // every entry issued, in index order

	applied uint64           // model: last applied index
	rows    map[int64]string // model: table kv
}

func (m *nodeMachine) cmd(t *rapid.T, stmts ...Statement) []byte {
	b, err := Prepare(Request{Statements: stmts}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issue appends a new entry to the log and applies it.
func (m *nodeMachine) issue(t *rapid.T, cmd []byte) Response {
	idx := m.applied + rapid.Uint64Range(1, 3).Draw(t, "gap")
	m.log = append(m.log, Entry{Index: idx, Command: cmd})
	r, err := m.n.Apply(idx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped {
		t.Fatalf("new index %d skipped", idx)
	}
	m.applied = idx
	return r
}

func (m *nodeMachine) Put(t *rapid.T) {
	k, v := rapid.Int64Range(0, 9).Draw(t, "k"), rapid.StringN(0, 8, -1).Draw(t, "v")
	r := m.issue(t, m.cmd(t, Statement{SQL: "INSERT OR REPLACE INTO kv VALUES(?, ?)", Params: []Param{{Value: k}, {Value: v}}}))
	if r.RolledBack {
		t.Fatalf("put: %+v", r)
	}
	m.rows[k] = v
}

func (m *nodeMachine) Delete(t *rapid.T) {
	k := rapid.Int64Range(0, 9).Draw(t, "k")
	r := m.issue(t, m.cmd(t, Statement{SQL: "DELETE FROM kv WHERE k = :k", Params: []Param{{Name: "k", Value: k}}}))
	want := int64(0)
	if _, ok := m.rows[k]; ok {
		want = 1
	}
	if r.Results[0].RowsAffected != want {
		t.Fatalf("delete %d: rows affected %d, want %d", k, r.Results[0].RowsAffected, want)
	}
	delete(m.rows, k)
}

func (m *nodeMachine) PutThenFail(t *rapid.T) {
	k := rapid.Int64Range(0, 9).Draw(t, "k")
	r := m.issue(t, m.cmd(t,
		Statement{SQL: "INSERT OR REPLACE INTO kv VALUES(?, 'doomed')", Params: []Param{{Value: k}}},
		Statement{SQL: "DELETE FROM kv"},
		Statement{SQL: "INSERT INTO kv VALUES(1, NULL)"}))
	if !r.RolledBack || len(r.Results) != 3 {
		t.Fatalf("failing request: %+v", r)
	}
}

func (m *nodeMachine) Replay(t *rapid.T) {
	if len(m.log) == 0 {
		t.Skip("empty log")
	}
	e := m.log[rapid.IntRange(0, len(m.log)-1).Draw(t, "entry")]
	r, err := m.n.Apply(e.Index, e.Command)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Skipped {
		t.Fatalf("replayed index %d applied again", e.Index)
	}
}

func (m *nodeMachine) Restart(t *rapid.T) {
	if err := m.n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := Open(m.opts)
	if err != nil {
		t.Fatal(err)
	}
	m.n = n
	if got := n.AppliedIndex(); got != m.applied {
		t.Fatalf("after restart AppliedIndex %d, want %d", got, m.applied)
	}
	// Replay the whole log, in batches, as a node does after a reset.
	for i := 0; i < len(m.log); i += 4 {
		rs, err := n.ApplyBatch(m.log[i:min(i+4, len(m.log))])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if !r.Skipped {
				t.Fatalf("replay after restart applied index %d again", r.Index)
			}
		}
	}
}

func (m *nodeMachine) Check(t *rapid.T) {
	if got := m.n.AppliedIndex(); got != m.applied {
		t.Fatalf("AppliedIndex %d, want %d", got, m.applied)
	}
	if err := m.n.Check(); err != nil {
		t.Fatal(err)
	}
	rs, err := m.n.Query(context.Background(), []Statement{{SQL: "SELECT k, v FROM kv"}})
	if err != nil || rs[0].Error != "" {
		t.Fatalf("query: %v %+v", err, rs)
	}
	got := map[int64]string{}
	for _, row := range rs[0].Values {
		got[row[0].(int64)] = row[1].(string)
	}
	if !maps.Equal(got, m.rows) {
		t.Fatalf("rows %v, model %v", got, m.rows)
	}
}

func TestNode_model(t *testing.T) {
	// Each run starts SQLite instances, which is slow under -race: run 30
	// checks unless -rapid.checks says otherwise.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !explicit {
		old := f.Value.String()
		if err := f.Value.Set("30"); err != nil {
			t.Fatal(err)
		}
		defer f.Value.Set(old)
	}
	run := 0
	shmDir := t.TempDir() // WAL indexes (each is removed when its node closes)
	rapid.Check(t, func(t *rapid.T) {
		run++
		name := fmt.Sprintf("sqlnode-model-%d", run)
		if err := sqlitevfs.Register(name, vfs.NewMem(), sqlitevfs.WithSharedMemory(shmDir)); err != nil {
			t.Fatal(err)
		}
		m := &nodeMachine{vfsName: name, opts: Options{VFS: name, Path: "db"}, rows: map[int64]string{}}
		n, err := Open(m.opts)
		if err != nil {
			t.Fatal(err)
		}
		m.n = n
		defer func() {
			m.n.Close()
			if err := sqlitevfs.Unregister(name); err != nil {
				t.Error(err)
			}
		}()
		m.issue(t, m.cmd(t, Statement{SQL: "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL)"}))
		t.Repeat(rapid.StateMachineActions(m))
	})
}
