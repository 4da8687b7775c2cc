package replica_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// mapEngine is the smallest replica engine: a map of counters kept in
// one file on the view. A command "key+n" adds n to key. Each Apply
// writes the whole map, with the applied index, to a temporary file,
// syncs it and renames it over the old one: the index and the batch land
// in one atomic write.
type mapEngine struct{}

// mapFile is the database's file; what it holds is mapState.
const mapFile = "map.json"

type mapState struct {
	Applied uint64         `json:"applied"`
	M       map[string]int `json:"m"`
}

// mapDB is a mapEngine database. Concurrency: one call at a time (the
// replica serializes them).
type mapDB struct {
	view vfs.FS
	st   mapState
}

func (mapEngine) Open(view vfs.FS) (*mapDB, error) {
	db := &mapDB{view: view, st: mapState{M: map[string]int{}}}
	b, err := vfs.ReadFile(view, mapFile)
	if errors.Is(err, fs.ErrNotExist) {
		return db, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &db.st); err != nil {
		return nil, fmt.Errorf("mapdb: %s: %w", mapFile, err)
	}
	return db, nil
}

func (d *mapDB) Applied() (uint64, error) { return d.st.Applied, nil }

func (d *mapDB) Apply(entries []replica.Entry) error {
	next := mapState{Applied: entries[len(entries)-1].Index, M: make(map[string]int, len(d.st.M))}
	for k, v := range d.st.M {
		next.M[k] = v
	}
	for _, e := range entries {
		k, n, err := parseAdd(e.Data)
		if err != nil {
			return err
		}
		next.M[k] += n
	}
	if err := writeSynced(d.view, mapFile, next); err != nil {
		return err
	}
	d.st = next
	return nil
}

// Sync does nothing: every Apply is synced.
func (d *mapDB) Sync() error  { return nil }
func (d *mapDB) Close() error { return nil }

// parseAdd parses "key+n".
func parseAdd(cmd []byte) (string, int, error) {
	k, v, ok := strings.Cut(string(cmd), "+")
	n, err := strconv.Atoi(v)
	if !ok || err != nil {
		return "", 0, fmt.Errorf("mapdb: bad command %q", cmd)
	}
	return k, n, nil
}

// writeSynced replaces name with v's JSON, atomically and durably.
func writeSynced(view vfs.FS, name string, v any) error {
	b, err := json.Marshal(v) // map keys sorted: deterministic
	if err != nil {
		return err
	}
	f, err := view.Open(name+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := view.Rename(name+".tmp", name); err != nil {
		return err
	}
	return view.SyncDir(".")
}

// mapSubject is the suite's subject for a map engine.
func mapSubject[D interface {
	replica.DB
	counters() map[string]int
}](eng replica.Engine[D]) replicatest.Subject[D] {
	return replicatest.Subject[D]{
		Engine:  eng,
		Command: func(i uint64) []byte { return fmt.Appendf(nil, "k%d+%d", i%5, i) },
		State:   func(db D) ([]byte, error) { return json.Marshal(db.counters()) },
	}
}

func (d *mapDB) counters() map[string]int { return d.st.M }

// Example runs the map engine as a replica: commands go through the log,
// the replica applies them and publishes the database to readers.
func Example() {
	lg := replicatest.NewLog() // a *raftcluster.Node in a cluster
	r := replica.New(replica.Config[*mapDB]{Engine: mapEngine{}, Name: "a"})
	defer r.Shutdown()
	r.SetLog(lg)
	ctx := context.Background()
	if err := r.Open(ctx, vfs.NewMem()); err != nil { // a cow view in a cluster
		fmt.Println(err)
		return
	}
	lg.Append(replica.EncodeCommand([]byte("apples+3")), replica.EncodeCommand([]byte("apples+2")))
	lg.Feed(r, 1, 2, 64) // raftcluster's ApplyBatch callback does this

	db, _, release, err := r.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer release()
	applied, _ := db.Applied()
	fmt.Println(db.counters()["apples"], applied)
	// Output: 5 2
}
