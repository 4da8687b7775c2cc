package sqlnode

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Env supplies the non-deterministic inputs that Rewrite turns into
// literals. The zero Env uses the current time and crypto/rand.
type Env struct {
	// Now is the time that 'now' and CURRENT_TIMESTAMP stand for; zero
	// means time.Now(). It is used in UTC, at millisecond precision, as
	// SQLite's own 'now'.
	Now time.Time
	// Rand supplies random() and randomblob() bytes; nil means crypto/rand.
	Rand io.Reader
}

// maxRandomBlob bounds randomblob(N) rewriting.
const maxRandomBlob = 1 << 20

// Prepare rewrites req with Rewrite and encodes it with EncodeRequest. Call
// it on the node that accepts a client's request, before the command enters
// the log, so that every node applies the same SQL.
func Prepare(req Request, env Env) ([]byte, error) {
	r, err := Rewrite(req, env)
	if err != nil {
		return nil, err
	}
	return EncodeRequest(r)
}

// Rewrite makes req deterministic, or rejects it with an error wrapping
// ErrRejected that says why. It does not modify req.
//
// Rewritten, outside string literals, quoted identifiers, blob literals and
// comments:
//   - random() becomes an integer literal; randomblob(N) with a literal N
//     becomes a blob literal.
//   - The time functions date, time, datetime, julianday, unixepoch,
//     strftime and timediff get the literal time Env.Now in place of a
//     'now' argument (or of a time-value parameter whose value is 'now'),
//     and in place of an omitted time value.
//   - CURRENT_TIMESTAMP, CURRENT_DATE and CURRENT_TIME become literals.
//
// Rejected:
//   - total_changes() (it counts changes since the connection opened).
//   - randomblob(N) whose N is not an integer literal, or above 1 MiB.
//   - the modifiers 'localtime' and 'utc' (they depend on the node's zone).
//   - any of the above, rewritable or not, inside CREATE or ALTER: a
//     trigger, view or DEFAULT would evaluate it later, on each node.
//   - transaction control (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT,
//     RELEASE): every request is already one atomic transaction.
//   - ATTACH, DETACH, VACUUM, CREATE TEMP, and PRAGMA other than
//     user_version and application_id: they act on one node's files or
//     connection.
//   - parameters with SQL text holding several statements.
//
// changes() and last_insert_rowid() are left alone: apply makes them
// deterministic by starting each request from the same connection state.
func Rewrite(req Request, env Env) (Request, error) {
	now := env.Now
	if now.IsZero() {
		now = time.Now()
	}
	rnd := env.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	rw := &rewriter{now: now.UTC().Truncate(time.Millisecond), rand: rnd}
	out := Request{Statements: make([]Statement, 0, len(req.Statements)), Limits: req.Limits}
	for i, st := range req.Statements {
		nst, err := rw.statement(st)
		if err != nil {
			return Request{}, fmt.Errorf("%w: statement %d: %w", ErrRejected, i+1, err)
		}
		out.Statements = append(out.Statements, nst)
	}
	return out, nil
}

type rewriter struct {
	now  time.Time
	rand io.Reader
}

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// stmtScan is the state of rewriting one SQL statement (one piece of the
// text between top-level semicolons).
type stmtScan struct {
	rw     *rewriter
	src    string
	toks   []token // significant tokens of this statement
	ddl    bool    // CREATE or ALTER
	index  bool    // CREATE INDEX: the first ON is followed by a table name
	params *paramMap
	edits  []edit
}

func (rw *rewriter) statement(st Statement) (Statement, error) {
	all := tokenize(st.SQL)
	var sig []token
	for _, t := range all {
		if t.kind != tokSpace && t.kind != tokComment {
			sig = append(sig, t)
		}
	}
	stmts := splitStatements(st.SQL, sig)
	if len(stmts) > 1 && len(st.Params) > 0 {
		return Statement{}, fmt.Errorf("parameters given with %d SQL statements in one text; put each in its own Statement", len(stmts))
	}
	params := newParamMap(st.Params)
	var edits []edit
	for _, toks := range stmts {
		sc := &stmtScan{rw: rw, src: st.SQL, toks: toks, params: params}
		if err := sc.run(); err != nil {
			return Statement{}, err
		}
		edits = append(edits, sc.edits...)
	}
	sort.SliceStable(edits, func(a, b int) bool { return edits[a].start < edits[b].start })
	out := Statement{SQL: applyEdits(st.SQL, edits), Params: params.result()}
	return out, nil
}

func applyEdits(src string, edits []edit) string {
	if len(edits) == 0 {
		return src
	}
	var b strings.Builder
	pos := 0
	for _, e := range edits {
		b.WriteString(src[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.WriteString(src[pos:])
	return b.String()
}

func isWord(src string, t token, words ...string) bool {
	if t.kind != tokIdent {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text(src), w) {
			return true
		}
	}
	return false
}

func isPunct(src string, t token, p string) bool {
	return t.kind == tokPunct && t.text(src) == p
}

// splitStatements splits significant tokens at top-level semicolons. A
// CREATE TRIGGER body (BEGIN ... END, with CASE ... END inside) is kept
// whole. Empty statements are dropped.
func splitStatements(src string, sig []token) [][]token {
	var out [][]token
	start := 0
	trigger, body, cases := false, false, 0
	for i, t := range sig {
		if i == start {
			trigger, body, cases = false, false, 0
		}
		switch {
		case isWord(src, t, "TRIGGER") && i > start && isWord(src, sig[start], "CREATE"):
			trigger = true
		case trigger && !body && isWord(src, t, "BEGIN"):
			body = true
		case body && isWord(src, t, "CASE"):
			cases++
		case body && isWord(src, t, "END"):
			if cases > 0 {
				cases--
			} else {
				body, trigger = false, false
			}
		case isPunct(src, t, ";") && !body:
			if i > start {
				out = append(out, sig[start:i])
			}
			start = i + 1
		}
	}
	if start < len(sig) {
		out = append(out, sig[start:])
	}
	return out
}

func (sc *stmtScan) run() error {
	src, toks := sc.src, sc.toks
	first := toks[0]
	switch {
	case isWord(src, first, "BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"):
		return fmt.Errorf("transaction control (%s) is not allowed: every request is already one atomic transaction", strings.ToUpper(first.text(src)))
	case isWord(src, first, "ATTACH", "DETACH", "VACUUM"):
		return fmt.Errorf("%s is not allowed in a replicated request: it acts on one node's files", strings.ToUpper(first.text(src)))
	case isWord(src, first, "PRAGMA"):
		if len(toks) < 2 || !isWord(src, toks[1], "user_version", "application_id") ||
			len(toks) > 2 && isPunct(src, toks[2], ".") {
			return fmt.Errorf("PRAGMA is not allowed in a replicated request, except user_version and application_id: it acts on one node's connection")
		}
	case isWord(src, first, "CREATE", "ALTER"):
		sc.ddl = true
		if len(toks) > 1 && isWord(src, toks[1], "TEMP", "TEMPORARY") {
			return fmt.Errorf("CREATE %s is not allowed: temporary objects live in one node's connection and vanish when it restarts", strings.ToUpper(toks[1].text(src)))
		}
		for _, t := range toks[1:] {
			if isWord(src, t, "INDEX") {
				sc.index = true
			}
			if isWord(src, t, "ON") || isPunct(src, t, "(") {
				break
			}
		}
	}
	sc.params.number(src, toks)
	seenOn := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if isWord(src, t, "ON") {
			if sc.index && !seenOn {
				seenOn = true
				i++ // the table name
			}
			continue
		}
		if t.kind != tokIdent && t.kind != tokQuoted {
			continue
		}
		prevDot := i > 0 && isPunct(src, toks[i-1], ".")
		nextDot := i+1 < len(toks) && isPunct(src, toks[i+1], ".")
		if prevDot || nextDot {
			continue
		}
		call := i+1 < len(toks) && isPunct(src, toks[i+1], "(")
		if !call {
			if t.kind == tokIdent {
				if err := sc.currentKeyword(i); err != nil {
					return err
				}
			}
			continue
		}
		if i > 0 && isWord(src, toks[i-1], "TABLE", "INTO", "INDEX", "VIEW", "TRIGGER", "REFERENCES", "EXISTS", "JOIN", "FROM", "WITH", "UPDATE") {
			continue
		}
		next, err := sc.call(i)
		if err != nil {
			return err
		}
		i = next
	}
	return nil
}

// currentKeyword handles CURRENT_TIMESTAMP, CURRENT_DATE and CURRENT_TIME
// at toks[i].
func (sc *stmtScan) currentKeyword(i int) error {
	t := sc.toks[i]
	var layout string
	switch strings.ToUpper(t.text(sc.src)) {
	case "CURRENT_TIMESTAMP":
		layout = "2006-01-02 15:04:05"
	case "CURRENT_DATE":
		layout = "2006-01-02"
	case "CURRENT_TIME":
		layout = "15:04:05"
	default:
		return nil
	}
	if sc.ddl {
		return fmt.Errorf("%s inside CREATE or ALTER would be evaluated later on each node, with each node's clock; store an explicit value instead", strings.ToUpper(t.text(sc.src)))
	}
	sc.edits = append(sc.edits, edit{t.start, t.end, "'" + sc.rw.now.Format(layout) + "'"})
	return nil
}

// args returns the top-level arguments of the call whose "(" is toks[open],
// as [start,end) index ranges into toks, and the index of the closing ")".
// ok is false if the parentheses do not balance.
func (sc *stmtScan) args(open int) (args [][2]int, closeIdx int, ok bool) {
	depth := 0
	start := open + 1
	for j := open + 1; j < len(sc.toks); j++ {
		t := sc.toks[j]
		switch {
		case isPunct(sc.src, t, "("):
			depth++
		case isPunct(sc.src, t, ")") && depth > 0:
			depth--
		case isPunct(sc.src, t, ")"):
			if j > start || len(args) > 0 {
				args = append(args, [2]int{start, j})
			}
			return args, j, true
		case isPunct(sc.src, t, ",") && depth == 0:
			args = append(args, [2]int{start, j})
			start = j + 1
		}
	}
	return nil, 0, false
}

func unquoteName(src string, t token) string {
	s := t.text(src)
	if t.kind == tokQuoted {
		s = s[1 : len(s)-1]
	}
	return strings.ToLower(s)
}

func unquoteString(s string) string {
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
}

var timeValueArgs = map[string][]int{
	"date": {0}, "time": {0}, "datetime": {0}, "julianday": {0}, "unixepoch": {0},
	"strftime": {1}, "timediff": {0, 1},
}

// call handles a function call whose name is toks[i]; toks[i+1] is "(".
// It returns the index of the last token it consumed.
func (sc *stmtScan) call(i int) (int, error) {
	name := unquoteName(sc.src, sc.toks[i])
	switch name {
	case "random", "randomblob", "total_changes":
	default:
		if _, ok := timeValueArgs[name]; !ok {
			return i, nil
		}
	}
	args, closeIdx, ok := sc.args(i + 1)
	if !ok {
		return i, nil // a syntax error that SQLite reports on every node
	}
	span := edit{start: sc.toks[i].start, end: sc.toks[closeIdx].end}
	inDDL := func() error {
		return fmt.Errorf("%s() inside CREATE or ALTER would be evaluated later on each node with different results; compute the value in the request instead", name)
	}
	switch name {
	case "total_changes":
		return 0, fmt.Errorf("total_changes() is not allowed: it counts changes since a node's connection opened, which differs between nodes")
	case "random":
		if len(args) != 0 {
			return i, nil // wrong arity: the same error on every node
		}
		if sc.ddl {
			return 0, inDDL()
		}
		var b [8]byte
		if _, err := io.ReadFull(sc.rw.rand, b[:]); err != nil {
			return 0, fmt.Errorf("random(): %w", err)
		}
		v := int64(binary.LittleEndian.Uint64(b[:]))
		span.text = "(" + strconv.FormatInt(v, 10) + ")"
		sc.edits = append(sc.edits, span)
		return closeIdx, nil
	case "randomblob":
		if len(args) != 1 {
			return i, nil
		}
		if sc.ddl {
			return 0, inDDL()
		}
		a := args[0]
		n, err := strconv.ParseInt(sc.toks[a[0]].text(sc.src), 0, 64)
		if a[1]-a[0] != 1 || sc.toks[a[0]].kind != tokNumber || err != nil {
			return 0, fmt.Errorf("randomblob() needs an integer literal size to be rewritten before replication")
		}
		if n > maxRandomBlob {
			return 0, fmt.Errorf("randomblob(%d) exceeds %d bytes", n, maxRandomBlob)
		}
		if n < 1 {
			n = 1
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(sc.rw.rand, b); err != nil {
			return 0, fmt.Errorf("randomblob(): %w", err)
		}
		span.text = "X'" + strings.ToUpper(hex.EncodeToString(b)) + "'"
		sc.edits = append(sc.edits, span)
		return closeIdx, nil
	}
	return sc.timeCall(i, name, args, closeIdx)
}

// timeCall handles a date and time function call.
func (sc *stmtScan) timeCall(i int, name string, args [][2]int, closeIdx int) (int, error) {
	lit := "'" + sc.rw.now.Format("2006-01-02 15:04:05.000") + "'"
	pos := timeValueArgs[name]
	isTimeArg := func(k int) bool {
		for _, p := range pos {
			if p == k {
				return true
			}
		}
		return false
	}
	var edits []edit
	for k, a := range args {
		if a[1]-a[0] != 1 {
			continue
		}
		t := sc.toks[a[0]]
		var val string
		switch t.kind {
		case tokString:
			val = unquoteString(t.text(sc.src))
		case tokParam:
			s, ok := sc.params.text(t.text(sc.src), a[0])
			if !ok {
				continue
			}
			val = s
		default:
			continue
		}
		if isTimeArg(k) && strings.EqualFold(val, "now") {
			if sc.ddl {
				return 0, fmt.Errorf("%s('now') inside CREATE or ALTER would be evaluated later on each node, with each node's clock; store an explicit value instead", name)
			}
			if t.kind == tokParam {
				sc.params.set(t.text(sc.src), a[0], sc.rw.now.Format("2006-01-02 15:04:05.000"))
			} else {
				edits = append(edits, edit{t.start, t.end, lit})
			}
			continue
		}
		if m := strings.ToLower(strings.TrimSpace(val)); !isTimeArg(k) && (m == "localtime" || m == "utc") {
			return 0, fmt.Errorf("the %q modifier of %s() depends on each node's time zone; convert on the client instead", m, name)
		}
	}
	// An omitted time value means 'now'.
	if name != "timediff" && len(args) == pos[0] {
		if sc.ddl {
			return 0, fmt.Errorf("%s() without a time value means 'now'; inside CREATE or ALTER it would be evaluated later on each node, with each node's clock; store an explicit value instead", name)
		}
		text := lit
		if len(args) > 0 {
			text = ", " + lit
		}
		c := sc.toks[closeIdx]
		edits = append(edits, edit{c.start, c.start, text})
	}
	sc.edits = append(sc.edits, edits...)
	// Arguments may hold further calls: continue inside them.
	return i + 1, nil
}
