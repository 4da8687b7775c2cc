package sqlnode

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupDumpImport_roundTrip: a backup file and its SQL dump both
// import into a fresh node with the same Checksum (rowids, AUTOINCREMENT
// counters, indexes, views and triggers included).
func TestBackupDumpImport_roundTrip(t *testing.T) {
	ctx := context.Background()
	src := tempNode(t)
	applyAll(t, src, 1,
		`CREATE TABLE a(x, y TEXT, z BLOB)`,
		`CREATE TABLE b(id INTEGER PRIMARY KEY AUTOINCREMENT, v REAL)`,
		`CREATE TABLE c(k TEXT PRIMARY KEY, n) WITHOUT ROWID`,
		`CREATE INDEX ai ON a(y)`,
		`CREATE VIEW av AS SELECT x FROM a`,
		`CREATE TRIGGER bt AFTER INSERT ON b BEGIN INSERT INTO c VALUES('t' || new.id, new.v); END`,
		`INSERT INTO a(rowid, x, y, z) VALUES(7, 1, 'it''s', X'00ff'), (3, 2.5, NULL, NULL), (9, NULL, "dq", '')`,
		`INSERT INTO b(v) VALUES(1.0), (0.1), (-2e300)`,
		`DELETE FROM b WHERE id = 2`,
	)
	want, err := src.Checksum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	if err := src.BackupTo(ctx, file); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if err := DumpFile(ctx, file, &dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump.String(), reservedPrefix) {
		t.Errorf("the dump holds our bookkeeping:\n%s", dump.String())
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"file": raw, "dump": dump.Bytes()} {
		sql, err := Import(ctx, data, dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dst := tempNode(t)
		resp, err := dst.Apply(1, command(t, sql))
		if err != nil || resp.Results[0].Error != "" {
			t.Fatalf("%s: apply the import: %+v %v", name, resp, err)
		}
		got, err := dst.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Sum != want.Sum {
			t.Errorf("%s: checksum %v after import, want %v\n%s", name, got, want, sql)
		}
	}
}

func TestImport_badInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"garbage":        "this is not SQL",
		"truncated stmt": "CREATE TABLE t(x); INSERT INTO t VALUES(1",
		"no commit":      "BEGIN TRANSACTION; CREATE TABLE t(x); INSERT INTO t VALUES(1);",
		"attach":         "ATTACH 'x.db' AS x; CREATE TABLE x.t(y);",
		"vacuum into":    "CREATE TABLE t(x); VACUUM INTO 'escape.db';",
		"truncated file": sqliteMagic + strings.Repeat("\x00", 200),
		"virtual table":  "CREATE VIRTUAL TABLE v USING nosuchmodule(x);",
	} {
		if _, err := Import(ctx, []byte(data), dir); !errors.Is(err, ErrBadImport) {
			t.Errorf("%s: %v, want ErrBadImport", name, err)
		}
	}
	if _, err := os.Stat("escape.db"); err == nil {
		os.Remove("escape.db")
		t.Error("VACUUM INTO wrote a file")
	}
}

func applyAll(t *testing.T, n *Node, idx uint64, sqls ...string) {
	t.Helper()
	resp, err := n.Apply(idx, command(t, sqls...))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if r.Error != "" {
			t.Fatalf("statement %d: %s", i+1, r.Error)
		}
	}
}
