package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// FuzzDecodeStatements_reference requires DecodeStatements, which decodes
// the body in one pass of encoding/json, to accept exactly the bodies and
// return exactly the statements of refDecodeStatements, the decoder it
// replaced, which decoded each element and each string again.
func FuzzDecodeStatements_reference(f *testing.F) {
	for _, b := range badBodies {
		f.Add([]byte(b))
	}
	for _, b := range []string{`["SELECT 1"]`, `[["INSERT INTO t VALUES(?, ?)", 1, "a"]]`,
		`[["INSERT INTO t VALUES(:a)", {"a": 1.5, "b": [1]}]]`, `["a", ["b", null, true, false, -0, 1e3, 9223372036854775808]]`,
		`[["x", {"": 1}]]`, `[["x", {"a": 1}, 2]]`, `[["x", {"a": 1, "a": "2"}]]`, `[] `, `[1] [2]`, `["\ud800\udc00"] x`,
		`[["x", "\u00e9\n\"", 1.0, 12345678901234567890123, -9223372036854775808, 1E400]]`, `[{"a":1}]`, `[null]`, `[[]]`, `[[1]]`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, werr := refDecodeStatements(body)
		got, gerr := DecodeStatements(body)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("body %q: reference error %v, error %v", body, werr, gerr)
		}
		if werr != nil {
			if !errors.Is(gerr, ErrBadRequest) {
				t.Fatalf("error does not wrap ErrBadRequest: %v", gerr)
			}
			if !strings.Contains(werr.Error(), "JSON") && werr.Error() != gerr.Error() {
				t.Fatalf("body %q: reference error %v, error %v", body, werr, gerr)
			}
			return
		}
		if !reflect.DeepEqual(normParams(want), normParams(got)) {
			t.Fatalf("body %q:\nreference %#v\ngot       %#v", body, want, got)
		}
	})
}

// The decoder DecodeStatements replaced, kept as the reference.

func refDecodeStatements(body []byte) ([]sqlnode.Statement, error) {
	body, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	return statementsOf(elems, refDecodeStatement)
}

func refDecodeStatement(e json.RawMessage) (sqlnode.Statement, error) {
	switch e[0] {
	case '"':
		s, err := refDecodeString(e)
		if err != nil {
			return sqlnode.Statement{}, err
		}
		return sqlnode.Statement{SQL: s}, nil
	case '[':
	default:
		return sqlnode.Statement{}, badRequest("want a string or an array [SQL, parameters...]")
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(e, &parts); err != nil {
		return sqlnode.Statement{}, badRequest("%v", err)
	}
	if len(parts) == 0 || parts[0][0] != '"' {
		return sqlnode.Statement{}, badRequest("an array statement must start with the SQL string")
	}
	var st sqlnode.Statement
	var err error
	if st.SQL, err = refDecodeString(parts[0]); err != nil {
		return sqlnode.Statement{}, err
	}
	args := parts[1:]
	if len(args) == 1 && args[0][0] == '{' {
		var named map[string]json.RawMessage
		if err := json.Unmarshal(args[0], &named); err != nil {
			return sqlnode.Statement{}, badRequest("named parameters: %v", err)
		}
		ps, err := namedParams(named, refDecodeValue)
		if err != nil {
			return sqlnode.Statement{}, err
		}
		st.Params = ps
		return st, nil
	}
	for j, a := range args {
		v, err := refDecodeValue(a)
		if err != nil {
			return sqlnode.Statement{}, badRequest("parameter %d: %v", j+1, trimPrefix(err))
		}
		st.Params = append(st.Params, sqlnode.Param{Value: v})
	}
	return st, nil
}

// decodeString decodes a JSON string (checkText has checked its text).
func refDecodeString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest("%v", err)
	}
	return s, nil
}

func refDecodeValue(raw json.RawMessage) (any, error) {
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, badRequest("%v", err)
		}
		if b {
			return int64(1), nil
		}
		return int64(0), nil
	case '"':
		s, err := refDecodeString(raw)
		if err != nil {
			return nil, err
		}
		return s, nil
	case '[', '{':
		return nil, badRequest("want a string, number, boolean or null, not an array or object")
	}
	return decodeNumber(string(raw))
}
