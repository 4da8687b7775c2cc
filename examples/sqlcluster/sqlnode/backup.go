package sqlnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// ErrBadImport reports input to Import that is neither a SQLite database
// nor a complete SQL script, or one that cannot be dumped (virtual
// tables).
var ErrBadImport = errors.New("sqlnode: bad database or SQL dump")

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// BackupTo writes a consistent copy of the database to the file at dst
// (which must not exist), with SQLite's online backup in one step on a
// read connection: the copy is the state after some applied index. The
// read transaction holds off this node's own apply while the copy runs
// (SQLite's rollback journal lets no commit under a reader), not other
// nodes'.
func (n *Node) BackupTo(ctx context.Context, dst string) error {
	if n.opts.ExclusiveLocking {
		return fmt.Errorf("sqlnode: backup is unavailable with ExclusiveLocking")
	}
	c, err := n.acquireReader(ctx)
	if err != nil {
		return err
	}
	defer n.releaseReader(c)
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	if err := c.Backup("main", "file:"+filepath.ToSlash(dst)+"?vfs=os"); err != nil {
		return fmt.Errorf("sqlnode: backup: %w", err)
	}
	return nil
}

// Vacuum rebuilds the database file at path compactly (VACUUM).
func Vacuum(path string) error {
	c, err := sqlite3.OpenFlags("file:"+filepath.ToSlash(path)+"?vfs=os", sqlite3.OPEN_READWRITE|sqlite3.OPEN_URI)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Exec("VACUUM")
}

// DumpFile writes the database file at path as SQL text, as SQLite's
// .dump does (PRAGMA foreign_keys=OFF; BEGIN TRANSACTION; ... COMMIT;),
// with every row's rowid, so that loading it yields the same Checksum.
// Our _holeycow_* bookkeeping and SQLite's internals are left out, but
// sqlite_sequence. A database with virtual tables gets ErrBadImport.
func DumpFile(ctx context.Context, path string, w io.Writer) error {
	c, err := sqlite3.OpenFlags("file:"+filepath.ToSlash(path)+"?vfs=os&mode=ro", sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadImport, err)
	}
	defer c.Close()
	if err := enableDQS(c); err != nil {
		return err
	}
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	bw := bufio.NewWriter(w)
	bw.WriteString("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
	if err := dumpBody(c, bw); err != nil {
		return err
	}
	bw.WriteString("COMMIT;\n")
	return bw.Flush()
}

type schemaObject struct{ typ, name, sql string }

func dumpBody(c *sqlite3.Conn, w *bufio.Writer) error {
	var objs []schemaObject
	err := eachRow(c, "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid", nil, func(st *sqlite3.Stmt) error {
		objs = append(objs, schemaObject{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: reading the schema: %w", ErrBadImport, err)
	}
	seq := false
	for _, o := range objs {
		if o.typ != "table" {
			continue
		}
		if strings.EqualFold(o.name, "sqlite_sequence") {
			seq = true
			continue
		}
		if internalName(o.name) {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(o.sql)), "CREATE VIRTUAL") {
			return fmt.Errorf("%w: virtual table %s cannot be dumped", ErrBadImport, o.name)
		}
		w.WriteString(o.sql + ";\n")
		if err := dumpRows(c, w, o.name); err != nil {
			return err
		}
	}
	if seq {
		w.WriteString("DELETE FROM sqlite_sequence;\n")
		if err := dumpRows(c, w, "sqlite_sequence"); err != nil {
			return err
		}
	}
	for _, o := range objs {
		if o.typ == "table" || internalName(o.name) {
			continue
		}
		w.WriteString(o.sql + ";\n")
	}
	return nil
}

// dumpRows writes one INSERT per row of table, with its rowid.
func dumpRows(c *sqlite3.Conn, w *bufio.Writer, table string) error {
	var cols []string
	err := eachRow(c, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", []any{table}, func(st *sqlite3.Stmt) error {
		cols = append(cols, quoteIdent(st.ColumnText(0)))
		return nil
	})
	if err != nil {
		return err
	}
	alias, hasRowid, err := rowidAlias(c, table)
	if err != nil {
		return err
	}
	if hasRowid && alias == "" {
		return fmt.Errorf("%w: table %s shadows every rowid alias", ErrBadImport, table)
	}
	sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(table)
	prefix := "INSERT INTO " + quoteIdent(table) + "(" + strings.Join(cols, ",") + ") VALUES("
	if alias != "" {
		sel = "SELECT " + alias + ", " + strings.Join(cols, ", ") + " FROM " + quoteIdent(table) + " ORDER BY " + alias
		prefix = "INSERT INTO " + quoteIdent(table) + "(" + alias + "," + strings.Join(cols, ",") + ") VALUES("
	}
	return eachRow(c, sel, nil, func(st *sqlite3.Stmt) error {
		w.WriteString(prefix)
		for i := range st.ColumnCount() {
			if i > 0 {
				w.WriteByte(',')
			}
			writeLiteral(w, st, i)
		}
		w.WriteString(");\n")
		return nil
	})
}

func writeLiteral(w *bufio.Writer, st *sqlite3.Stmt, i int) {
	switch st.ColumnType(i) {
	case sqlite3.NULL:
		w.WriteString("NULL")
	case sqlite3.INTEGER:
		w.WriteString(strconv.FormatInt(st.ColumnInt64(i), 10))
	case sqlite3.FLOAT:
		f := st.ColumnFloat(i)
		switch {
		case math.IsInf(f, 1):
			w.WriteString("9e999")
		case math.IsInf(f, -1):
			w.WriteString("-9e999")
		case math.IsNaN(f):
			w.WriteString("NULL")
		default:
			s := strconv.FormatFloat(f, 'g', 17, 64)
			if !strings.ContainsAny(s, ".eEn") {
				s += ".0"
			}
			w.WriteString(s)
		}
	case sqlite3.TEXT:
		w.WriteString("'" + strings.ReplaceAll(st.ColumnText(i), "'", "''") + "'")
	default:
		w.WriteString("X'" + hex.EncodeToString(st.ColumnRawBlob(i)) + "'")
	}
}

// Import turns data, a SQLite database file or a SQL script (such as a
// dump), into one SQL text without transaction control that recreates
// its tables, rows (with their rowids), indexes, views and triggers, for
// a Request that replaces a database's content. It checks data on a
// scratch database in dir: a file that is not a sound SQLite database
// (integrity_check), a script that fails or is truncated (it leaves a
// transaction open or ends inside a statement) gets an error wrapping
// ErrBadImport, and nothing else happens.
func Import(ctx context.Context, data []byte, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "import-*.db")
	if err != nil {
		return "", err
	}
	path := f.Name()
	defer os.Remove(path)
	defer os.Remove(path + "-journal")
	if bytes.HasPrefix(data, []byte(sqliteMagic)) {
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		if err := checkDatabase(ctx, path); err != nil {
			return "", err
		}
	} else {
		f.Close()
		if err := runScript(ctx, path, string(data)); err != nil {
			return "", err
		}
	}
	c, err := sqlite3.OpenFlags("file:"+filepath.ToSlash(path)+"?vfs=os&mode=ro", sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadImport, err)
	}
	defer c.Close()
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := dumpBody(c, bw); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func checkDatabase(ctx context.Context, path string) error {
	c, err := sqlite3.OpenFlags("file:"+filepath.ToSlash(path)+"?vfs=os&mode=ro", sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadImport, err)
	}
	defer c.Close()
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	var msgs []string
	err = eachRow(c, "PRAGMA integrity_check", nil, func(st *sqlite3.Stmt) error {
		msgs = append(msgs, st.ColumnText(0))
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: not a sound SQLite database: %w", ErrBadImport, err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("%w: integrity check: %s", ErrBadImport, strings.Join(msgs, "; "))
	}
	return nil
}

func runScript(ctx context.Context, path, script string) error {
	c, err := sqlite3.OpenFlags("file:"+filepath.ToSlash(path)+"?vfs=os", sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := enableDQS(c); err != nil {
		return err
	}
	// The script must not reach other files (ATTACH, VACUUM INTO).
	if err := c.SetAuthorizer(scriptAuthorizer); err != nil {
		return err
	}
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	if err := c.Exec(script); err != nil {
		return fmt.Errorf("%w: the SQL script fails: %w", ErrBadImport, err)
	}
	if !c.GetAutocommit() {
		return fmt.Errorf("%w: the SQL script is truncated: it leaves a transaction open (no COMMIT)", ErrBadImport)
	}
	return nil
}

// scriptAuthorizer confines an imported script to its scratch database.
func scriptAuthorizer(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) sqlite3.AuthorizerReturnCode {
	switch action {
	case sqlite3.AUTH_ATTACH, sqlite3.AUTH_DETACH:
		return sqlite3.AUTH_DENY
	}
	return sqlite3.AUTH_OK
}
