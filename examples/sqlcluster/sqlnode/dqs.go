package sqlnode

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// enableDQS lets conn accept double-quoted string literals in DML and DDL
// (SQLITE_DBCONFIG_DQS_DML and _DDL), as rqlite's SQLite does: a
// double-quoted token that names no column is a string, so that
// INSERT INTO t VALUES("x") and WHERE type="table" work as they do
// there. Every connection of every node sets it alike (the apply
// connection and every read connection), so that a statement means the
// same on every node.
func enableDQS(conn *sqlite3.Conn) error {
	for _, op := range []sqlite3.DBConfig{sqlite3.DBCONFIG_DQS_DML, sqlite3.DBCONFIG_DQS_DDL} {
		on, err := conn.Config(op, true)
		if err != nil {
			return fmt.Errorf("sqlnode: enable double-quoted strings: %w", err)
		}
		if !on {
			return fmt.Errorf("sqlnode: enable double-quoted strings: setting %d stayed off", op)
		}
	}
	return nil
}
