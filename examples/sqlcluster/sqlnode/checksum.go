package sqlnode

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// Checksum is a logical checksum of a node's database at an applied index.
// Two nodes whose Checksums have the same Index must have the same Sum;
// anything else is divergence.
type Checksum struct {
	Index uint64
	Sum   [sha256.Size]byte
}

func (c Checksum) String() string {
	return fmt.Sprintf("%d:%s", c.Index, hex.EncodeToString(c.Sum[:]))
}

// Checksum hashes the database's logical content in one read transaction:
// the schema (type, name, table and SQL of every table, index, view and
// trigger) and every row of every table, in rowid order (with the rowid) or,
// for WITHOUT ROWID tables, in primary key order. It leaves out SQLite's
// own sqlite_* objects (but sqlite_sequence), our _holeycow_* bookkeeping, and rows of virtual
// tables (their shadow tables are hashed); sqlite_sequence is included. Physical layout (page order,
// free pages, VACUUM) does not change it.
func (n *Node) Checksum(ctx context.Context) (Checksum, error) {
	if n.opts.ExclusiveLocking {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.mu.conn == nil {
			return Checksum{}, ErrClosed
		}
		storageCause(n.mu.conn) // forget what failed before this read
		sum, err := checksumOn(ctx, n.mu.conn)
		return sum, readFailure(n.mu.conn, err)
	}
	c, err := n.acquireReader(ctx)
	if err != nil {
		return Checksum{}, err
	}
	defer n.releaseReader(c)
	storageCause(c) // forget what failed before this read
	sum, err := checksumOn(ctx, c)
	return sum, readFailure(c, err)
}

func checksumOn(ctx context.Context, c *sqlite3.Conn) (_ Checksum, err error) {
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	if err := c.Exec("BEGIN"); err != nil {
		return Checksum{}, err
	}
	defer c.Exec("ROLLBACK")
	idx, err := readApplied(c)
	if err != nil {
		return Checksum{}, err
	}
	h := sha256.New()
	type table struct{ name, sql string }
	var tables []table
	err = eachRow(c, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name", nil, func(st *sqlite3.Stmt) error {
		typ, name, tbl, sql := st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3)
		if internalName(name) || internalName(tbl) {
			return nil
		}
		for _, s := range []string{typ, name, tbl, sql} {
			hashBytes(h, 's', []byte(s))
		}
		if typ == "table" {
			tables = append(tables, table{name, sql})
		}
		return nil
	})
	if err != nil {
		return Checksum{}, err
	}
	for _, t := range tables {
		if strings.HasPrefix(strings.ToUpper(t.sql), "CREATE VIRTUAL") {
			continue
		}
		q, err := rowQuery(c, t.name)
		if err != nil {
			return Checksum{}, err
		}
		hashBytes(h, 't', []byte(t.name))
		err = eachRow(c, q, nil, func(st *sqlite3.Stmt) error {
			h.Write([]byte{'r'})
			for i := range st.ColumnCount() {
				hashValue(h, st, i)
			}
			return nil
		})
		if err != nil {
			return Checksum{}, fmt.Errorf("sqlnode: checksum %s: %w", t.name, err)
		}
	}
	var sum Checksum
	sum.Index = idx
	h.Sum(sum.Sum[:0])
	return sum, nil
}

// internalName reports objects the checksum leaves out: our bookkeeping and
// SQLite's internals, except sqlite_sequence, whose AUTOINCREMENT counters
// are logical state that decides future rowids.
func internalName(name string) bool {
	if strings.EqualFold(name, "sqlite_sequence") {
		return false
	}
	return hasReservedPrefix(name) || len(name) >= 7 && strings.EqualFold(name[:7], "sqlite_")
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// rowQuery returns a query listing table's rows in a physical-layout
// independent order: by rowid, with the rowid, or for a WITHOUT ROWID
// table by primary key.
func rowQuery(c *sqlite3.Conn, table string) (string, error) {
	q := quoteIdent(table)
	alias, hasRowid, err := rowidAlias(c, table)
	switch {
	case err != nil:
		return "", err
	case alias != "":
		return "SELECT " + alias + ", * FROM " + q + " ORDER BY " + alias, nil
	case hasRowid:
		return "", fmt.Errorf("sqlnode: table %s shadows every rowid alias", table)
	}
	var order []string
	err = eachRow(c, "SELECT name FROM pragma_table_info(?1) WHERE pk>0 ORDER BY pk", []any{table}, func(st *sqlite3.Stmt) error {
		order = append(order, quoteIdent(st.ColumnText(0)))
		return nil
	})
	if err != nil {
		return "", err
	}
	return "SELECT * FROM " + q + " ORDER BY " + strings.Join(order, ", "), nil
}

func eachRow(c *sqlite3.Conn, q string, args []any, fn func(*sqlite3.Stmt) error) error {
	st, _, err := c.Prepare(q)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, a := range args {
		if err := st.BindText(i+1, a.(string)); err != nil {
			return err
		}
	}
	for st.Step() {
		if err := fn(st); err != nil {
			return err
		}
	}
	return st.Err()
}

func hashBytes(h hash.Hash, tag byte, b []byte) {
	var buf [1 + binary.MaxVarintLen64]byte
	buf[0] = tag
	n := binary.PutUvarint(buf[1:], uint64(len(b)))
	h.Write(buf[:1+n])
	h.Write(b)
}

func hashValue(h hash.Hash, st *sqlite3.Stmt, i int) {
	var buf [9]byte
	switch st.ColumnType(i) {
	case sqlite3.NULL:
		h.Write([]byte{'N'})
	case sqlite3.INTEGER:
		buf[0] = 'I'
		binary.BigEndian.PutUint64(buf[1:], uint64(st.ColumnInt64(i)))
		h.Write(buf[:])
	case sqlite3.FLOAT:
		buf[0] = 'F'
		binary.BigEndian.PutUint64(buf[1:], math.Float64bits(st.ColumnFloat(i)))
		h.Write(buf[:])
	case sqlite3.TEXT:
		hashBytes(h, 'T', st.ColumnRawText(i))
	case sqlite3.BLOB:
		hashBytes(h, 'B', st.ColumnRawBlob(i))
	}
}
