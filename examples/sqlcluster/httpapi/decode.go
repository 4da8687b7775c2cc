package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// DecodeStatements decodes a request body in rqlite's format: a JSON array
// with one element per statement, each either
//
//	"SQL"                                 a statement without parameters
//	["SQL", p1, p2, ...]                  positional parameters (?, ?NNN)
//	["SQL", {"name": v, ...}]             named parameters (:name, @name, $name)
//
// where parameters are JSON strings, numbers, booleans (as 1 and 0) or
// null. A number without a fraction or exponent is an integer and must fit
// in 64 bits; one with a fraction or exponent is a float. Anything else (an
// empty list, a number or null as a statement, nested arrays, objects as
// positional parameters, trailing data, an integer beyond int64, a string
// that is not valid UTF-8 or holds an unpaired surrogate escape) gets an
// error wrapping ErrBadRequest rather than being stored changed. It never
// panics.
func DecodeStatements(body []byte) ([]sqlnode.Statement, error) {
	body, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	// One pass of encoding/json over the body, numbers kept as their
	// text: decoding each element and string again costs a scan each.
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var elems []any
	if err := d.Decode(&elems); err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, badRequest("malformed JSON: data after the array")
	}
	return statementsOf(elems, decodeStatement)
}

// checkBody trims body and checks what DecodeStatements checks before
// decoding it.
func checkBody(body []byte) ([]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, badRequest("empty body: want a JSON array of statements")
	}
	if body[0] != '[' {
		return nil, badRequest("body is not a JSON array of statements")
	}
	return body, checkText(body)
}

// statementsOf turns the decoded elements of a body into statements.
func statementsOf[T any](elems []T, decode func(T) (sqlnode.Statement, error)) ([]sqlnode.Statement, error) {
	if len(elems) == 0 {
		return nil, badRequest("empty statement list")
	}
	stmts := make([]sqlnode.Statement, 0, len(elems))
	for i, e := range elems {
		st, err := decode(e)
		if err != nil {
			return nil, badRequest("statement %d: %v", i+1, trimPrefix(err))
		}
		stmts = append(stmts, st)
	}
	return stmts, nil
}

// trimPrefix drops ErrBadRequest's text from a nested error message.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": ")
}

// decodeStatement turns one decoded element of the body into a Statement.
func decodeStatement(e any) (sqlnode.Statement, error) {
	var parts []any
	switch x := e.(type) {
	case string:
		return sqlnode.Statement{SQL: x}, nil
	case []any:
		parts = x
	default:
		return sqlnode.Statement{}, badRequest("want a string or an array [SQL, parameters...]")
	}
	ok := false
	if len(parts) > 0 {
		_, ok = parts[0].(string)
	}
	if !ok {
		return sqlnode.Statement{}, badRequest("an array statement must start with the SQL string")
	}
	st := sqlnode.Statement{SQL: parts[0].(string)}
	args := parts[1:]
	if len(args) == 1 {
		if named, ok := args[0].(map[string]any); ok {
			ps, err := namedParams(named, decodeValue)
			st.Params = ps
			return st, err
		}
	}
	if len(args) > 0 {
		st.Params = make([]sqlnode.Param, 0, len(args))
	}
	for j, a := range args {
		v, err := decodeValue(a)
		if err != nil {
			return sqlnode.Statement{}, badRequest("parameter %d: %v", j+1, trimPrefix(err))
		}
		st.Params = append(st.Params, sqlnode.Param{Value: v})
	}
	return st, nil
}

// checkText refuses JSON text that encoding/json would change silently:
// bytes that are not UTF-8, and \u escapes of unpaired UTF-16 surrogates,
// which it decodes as U+FFFD. Backslashes occur only in JSON strings, so
// the whole text can be scanned at once.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return badRequest("invalid UTF-8 at byte %d: strings must be UTF-8 (send binary data as a hex blob literal)", i)
	}
	pendingHigh := false // the previous escape was a high surrogate
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			if pendingHigh {
				return badRequest("unpaired UTF-16 surrogate escape before byte %d", i)
			}
			continue
		}
		if i+1 >= len(b) {
			break // malformed: json.Unmarshal says so
		}
		if b[i+1] != 'u' {
			if pendingHigh {
				return badRequest("unpaired UTF-16 surrogate escape before byte %d", i)
			}
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		if i+6 > len(b) {
			break
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil {
			break
		}
		switch {
		case v >= 0xD800 && v < 0xDC00:
			if pendingHigh {
				return badRequest("unpaired UTF-16 surrogate escape at byte %d", i)
			}
			pendingHigh = true
		case v >= 0xDC00 && v < 0xE000:
			if !pendingHigh {
				return badRequest("unpaired UTF-16 surrogate escape at byte %d", i)
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return badRequest("unpaired UTF-16 surrogate escape at byte %d", i)
			}
		}
		i += 5
	}
	if pendingHigh {
		return badRequest("unpaired UTF-16 surrogate escape at the end")
	}
	return nil
}

// namedParams decodes named parameters, by name order: the log command
// must not depend on map order.
func namedParams[T any](named map[string]T, decode func(T) (any, error)) ([]sqlnode.Param, error) {
	names := make([]string, 0, len(named))
	for n := range named {
		if n == "" {
			return nil, badRequest("empty parameter name")
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var ps []sqlnode.Param
	if len(names) > 0 {
		ps = make([]sqlnode.Param, 0, len(names))
	}
	for _, n := range names {
		v, err := decode(named[n])
		if err != nil {
			return nil, badRequest("parameter %q: %v", n, trimPrefix(err))
		}
		ps = append(ps, sqlnode.Param{Name: n, Value: v})
	}
	return ps, nil
}

// decodeValue turns one decoded JSON scalar (numbers as json.Number)
// into a parameter value: nil, int64, float64 or string.
func decodeValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string:
		return x, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case json.Number:
		return decodeNumber(string(x))
	}
	return nil, badRequest("want a string, number, boolean or null, not an array or object")
}

// decodeNumber decodes the text s of a JSON number: an integer if it has
// no fraction or exponent, else a float.
func decodeNumber(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return i, nil
		}
		if errors.Is(err, strconv.ErrRange) {
			// A float would silently round it: say so instead.
			return nil, badRequest("integer %.40s out of the 64-bit range (send it as a string or as a float such as 1e19)", s)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, badRequest("number %.40s out of range", s)
	}
	return f, nil
}

// options are the URL query parameters of the /db endpoints. rqlite's
// flags count as set when present without a value ("?timings") or with a
// true value ("?timings=true").
type options struct {
	pretty      bool
	timings     bool
	transaction bool
	associative bool
	queue       bool
	wait        bool
	redirect    bool
	raftIndex   bool
	level       Level
	freshness   Freshness
	timeout     time.Duration // 0: Config.Timeout
}

// parseOptions parses q; any malformed value gets an error wrapping
// ErrBadRequest. Unknown parameters are ignored, as rqlite does.
func parseOptions(q url.Values) (options, error) {
	var o options
	flags := []struct {
		name string
		dst  *bool
	}{
		{"pretty", &o.pretty}, {"timings", &o.timings}, {"transaction", &o.transaction},
		{"associative", &o.associative}, {"queue", &o.queue}, {"wait", &o.wait},
		{"redirect", &o.redirect}, {"raft_index", &o.raftIndex},
	}
	for _, f := range flags {
		vs, ok := q[f.name]
		if !ok {
			continue
		}
		v := ""
		if len(vs) > 0 {
			v = vs[len(vs)-1]
		}
		if v == "" {
			*f.dst = true
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return options{}, badRequest("parameter %s=%.40q is not a boolean", f.name, v)
		}
		*f.dst = b
	}
	lv, err := ParseLevel(q.Get("level"))
	if err != nil {
		return options{}, err
	}
	o.level = lv
	if t := q.Get("freshness"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return options{}, badRequest("parameter freshness=%.40q is not a positive duration such as 1s", t)
		}
		o.freshness.Max = d
	}
	if vs, ok := q["freshness_strict"]; ok {
		v := ""
		if len(vs) > 0 {
			v = vs[len(vs)-1]
		}
		b, err := strconv.ParseBool(v)
		if v == "" {
			b, err = true, nil
		}
		if err != nil {
			return options{}, badRequest("parameter freshness_strict=%.40q is not a boolean", v)
		}
		o.freshness.Strict = b
	}
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return options{}, badRequest("parameter timeout=%.40q is not a positive duration such as 5s", t)
		}
		o.timeout = d
	}
	return o, nil
}
