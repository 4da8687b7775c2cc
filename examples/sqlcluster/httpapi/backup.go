package httpapi

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// Backuper is implemented by a Backend that can copy its database, for
// GET /db/backup; without it /db/backup answers 501.
type Backuper interface {
	// BackupTo writes a consistent copy of this node's database file (a
	// SQLite database) to path, which does not exist, after waiting as a
	// read at level would (a *NotLeaderError forwards the request).
	BackupTo(ctx context.Context, level Level, path string) error
}

// handleBackup serves GET /db/backup: the SQLite database file, with
// ?fmt=sql a SQL dump, ?vacuum vacuumed, ?compress gzipped; ?level as
// for reads (weak by default: it holds every write acknowledged before).
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	o, err := parseOptions(r.URL.Query())
	if err != nil {
		s.fail(w, err, false)
		return
	}
	format := r.URL.Query().Get("fmt")
	if format != "" && format != "sql" && format != "binary" {
		s.fail(w, badRequest("unknown backup format %.20q (want binary or sql)", format), o.pretty)
		return
	}
	b, ok := s.cfg.Backend.(Backuper)
	if !ok {
		s.fail(w, fmt.Errorf("%w: this backend cannot back up", errors.ErrUnsupported), o.pretty)
		return
	}
	ctx, cancel := s.context(r, o)
	defer cancel()
	dir, err := os.MkdirTemp(s.cfg.TempDir, "holeycow-backup-")
	if err != nil {
		s.fail(w, err, o.pretty)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "backup.db")
	if err := b.BackupTo(ctx, o.level, path); err != nil {
		s.backendError(w, r, o, nil, err)
		return
	}
	if isSet(r, "vacuum") {
		if err := sqlnode.Vacuum(path); err != nil {
			s.fail(w, fmt.Errorf("httpapi: vacuum the backup: %w", err), o.pretty)
			return
		}
	}
	var out io.Writer = w
	name := "backup.db"
	w.Header().Set("Content-Type", "application/octet-stream")
	if format == "sql" {
		name = "backup.sql"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	if isSet(r, "compress") {
		name += ".gz"
		w.Header().Set("Content-Type", "application/gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "sql" {
		// Dump into a file first, so that a failure is still an error
		// status rather than a truncated answer.
		f, err := os.Create(filepath.Join(dir, "backup.sql"))
		if err == nil {
			err = sqlnode.DumpFile(ctx, path, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			s.fail(w, err, o.pretty)
			return
		}
		path = f.Name()
	}
	f, err := os.Open(path)
	if err != nil {
		s.fail(w, err, o.pretty)
		return
	}
	defer f.Close()
	if _, err := io.Copy(out, f); err != nil {
		s.log.Warn("httpapi: sending a backup", "err", err)
	}
}

// handleLoad serves POST /db/load: the body, a SQLite database file or a
// SQL script (a dump), replaces the database's content through the log,
// as one request: every node applies it alike. The leader checks the
// body on a scratch database first: input that is not a sound SQLite
// file or a complete script, or larger than Config.MaxBodyBytes (or than
// a log entry may be), gets 400 and changes nothing.
func (s *Server) handleLoad(w http.ResponseWriter, r *http.Request) {
	o, err := parseOptions(r.URL.Query())
	if err != nil {
		s.fail(w, err, false)
		return
	}
	body, err := s.readBody(w, r)
	if errors.Is(err, sqlnode.ErrTooLarge) {
		err = badRequest("load: %v (the size limit)", err)
	}
	if err != nil {
		s.fail(w, err, o.pretty)
		return
	}
	ctx, cancel := s.context(r, o)
	defer cancel()
	if lc, ok := s.cfg.Backend.(LeaderChecker); ok {
		if err := lc.IsLeader(); err != nil {
			s.backendError(w, r, o, body, err)
			return
		}
	}
	sql, err := sqlnode.Import(ctx, body, s.cfg.TempDir)
	if errors.Is(err, sqlnode.ErrBadImport) {
		err = badRequest("load: %v", err)
	}
	if err != nil {
		s.fail(w, err, o.pretty)
		return
	}
	// Drop what the database holds now, in the same request.
	rs, err := s.cfg.Backend.Query(ctx, LevelStrong, []sqlnode.Statement{{SQL: `SELECT type, name FROM sqlite_schema
		WHERE type IN ('view', 'table') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_holeycow%' ESCAPE '\'
		ORDER BY type = 'table'`}})
	if err == nil && rs[0].Error != "" {
		err = fmt.Errorf("httpapi: load: listing the schema: %s", rs[0].Error)
	}
	if err != nil {
		s.backendError(w, r, o, body, err)
		return
	}
	var stmts []sqlnode.Statement
	for _, row := range rs[0].Values {
		typ, _ := row[0].(string)
		name, _ := row[1].(string)
		kind := "TABLE"
		if typ == "view" {
			kind = "VIEW"
		}
		stmts = append(stmts, sqlnode.Statement{SQL: "DROP " + kind + " IF EXISTS " + quoteIdent(name)})
	}
	if sql != "" {
		stmts = append(stmts, sqlnode.Statement{SQL: sql})
	}
	if len(stmts) == 0 {
		writeResults(w, response{}, nil, o)
		return
	}
	resp, err := s.cfg.Backend.Execute(ctx, s.writeRequest(stmts))
	if errors.Is(err, sqlnode.ErrTooLarge) {
		err = badRequest("load: %v (the size limit of one log entry)", err)
	}
	if err == nil {
		for _, x := range resp.Results {
			if x.Error != "" {
				err = badRequest("load: %s; nothing changed", x.Error)
				break
			}
		}
	}
	if err != nil {
		s.backendError(w, r, o, body, err)
		return
	}
	writeResults(w, response{}, resp.Results, o)
}

func quoteIdent(s string) string {
	q := []byte{'"'}
	for i := range len(s) {
		if s[i] == '"' {
			q = append(q, '"')
		}
		q = append(q, s[i])
	}
	return string(append(q, '"'))
}
