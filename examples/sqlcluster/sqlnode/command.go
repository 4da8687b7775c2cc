package sqlnode

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Request is one Execute request: statements applied atomically, in order,
// in one transaction. If one fails, none of them has any effect.
type Request struct {
	Statements []Statement
	// Limits bound, during apply, the rows that the request's statements
	// return (SELECT, RETURNING; all statements together): a request whose
	// rows exceed them fails with ErrResultTooLarge as its result, and
	// rolls back. They travel in the log entry, so that every node
	// enforces the bounds of the node that accepted the request, whatever
	// its own configuration. A zero field takes DefaultApplyLimits'; a
	// negative field means no bound (DecodeRequest returns no zero field).
	Limits ResultLimits
}

// Statement is SQL text with its parameters. Text with several SQL
// statements separated by ';' is allowed only without parameters.
type Statement struct {
	SQL    string
	Params []Param
}

// Param is one parameter. A Param with an empty Name is positional: the
// positional Params of a Statement bind to ?1, ?2, ... in order. A named
// Param binds to :Name, @Name or $Name (Name may carry the prefix itself).
//
// Value is nil, int64, float64, string or []byte. EncodeRequest also accepts
// int, int32, bool (as 0 or 1) and float32, and converts them.
type Param struct {
	Name  string
	Value any
}

// Encoding limits. A command larger than MaxCommandSize is refused by both
// EncodeRequest and DecodeRequest.
const (
	MaxCommandSize = 16 << 20
	commandVersion = 2
)

const (
	kindNull byte = iota
	kindInt
	kindFloat
	kindText
	kindBlob
)

// normValue converts v to one of the five canonical parameter types.
func normValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, int64, float64, string, []byte:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	}
	return nil, fmt.Errorf("sqlnode: unsupported parameter type %T", v)
}

// EncodeRequest encodes req as a log command, version 2:
//
//	version byte (2)
//	uvarint max rows, uvarint max bytes: 0 the default (DefaultApplyLimits),
//	  1 no bound, n the bound n-1 (see Request.Limits)
//	uvarint statement count, then per statement:
//	  uvarint len, SQL bytes; uvarint param count, then per param:
//	    uvarint len, name bytes; kind byte (0 null, 1 int, 2 float, 3 text, 4 blob);
//	    int: zig-zag varint; float: 8 bytes little-endian IEEE 754;
//	    text, blob: uvarint len, bytes.
//
// Version 1, written before Limits existed, is version 2 without its
// limits; it decodes with DefaultApplyLimits.
//
// It does not rewrite: call Prepare for requests from clients.
func EncodeRequest(req Request) ([]byte, error) {
	b := []byte{commandVersion}
	lim := req.Limits.forApply()
	b = appendLimit(b, lim.MaxRows, DefaultApplyLimits.MaxRows)
	b = appendLimit(b, lim.MaxBytes, DefaultApplyLimits.MaxBytes)
	b = binary.AppendUvarint(b, uint64(len(req.Statements)))
	for _, st := range req.Statements {
		if !utf8.ValidString(st.SQL) {
			return nil, fmt.Errorf("%w: SQL is not valid UTF-8", ErrRejected)
		}
		b = binary.AppendUvarint(b, uint64(len(st.SQL)))
		b = append(b, st.SQL...)
		b = binary.AppendUvarint(b, uint64(len(st.Params)))
		for _, p := range st.Params {
			if !utf8.ValidString(p.Name) {
				return nil, fmt.Errorf("%w: parameter name is not valid UTF-8", ErrRejected)
			}
			b = binary.AppendUvarint(b, uint64(len(p.Name)))
			b = append(b, p.Name...)
			v, err := normValue(p.Value)
			if err != nil {
				return nil, err
			}
			switch x := v.(type) {
			case nil:
				b = append(b, kindNull)
			case int64:
				b = append(b, kindInt)
				b = binary.AppendVarint(b, x)
			case float64:
				b = append(b, kindFloat)
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
			case string:
				if !utf8.ValidString(x) {
					return nil, fmt.Errorf("%w: text parameter is not valid UTF-8 (send bytes as []byte)", ErrRejected)
				}
				b = append(b, kindText)
				b = binary.AppendUvarint(b, uint64(len(x)))
				b = append(b, x...)
			case []byte:
				b = append(b, kindBlob)
				b = binary.AppendUvarint(b, uint64(len(x)))
				b = append(b, x...)
			}
		}
		if len(b) > MaxCommandSize {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxCommandSize)
		}
	}
	return b, nil
}

// appendLimit appends limit v (negative: none) as EncodeRequest does, def
// being its default.
func appendLimit(b []byte, v, def int64) []byte {
	switch {
	case v == def:
		return append(b, 0)
	case v < 0:
		return append(b, 1)
	}
	return binary.AppendUvarint(b, uint64(v)+1)
}

// decoder reads a command; every read checks the remaining length first.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadCommand, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each at least min bytes long, and checks it
// against the bytes left, so that no allocation exceeds the input size.
func (d *decoder) count(what string, min int) int {
	v := d.uvarint(what)
	if d.err == nil && v > uint64(len(d.b)/min) {
		d.fail(what + " exceeds the command size")
		return 0
	}
	return int(v)
}

// limit reads a limit written by appendLimit with default def: -1 for
// none.
func (d *decoder) limit(def int64) int64 {
	switch v := d.uvarint("limit"); {
	case d.err != nil:
		return 0
	case v == 0:
		return def
	case v == 1:
		return -1
	case v-1 > math.MaxInt64:
		d.fail("limit out of range")
		return 0
	default:
		return int64(v - 1)
	}
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what + " truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(what + " truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// DecodeRequest decodes a command made by EncodeRequest. Any malformed
// input gets an error wrapping ErrBadCommand (or ErrTooLarge), never a
// panic. Texts must be valid UTF-8.
func DecodeRequest(cmd []byte) (Request, error) {
	if len(cmd) > MaxCommandSize {
		return Request{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxCommandSize)
	}
	if len(cmd) == 0 {
		return Request{}, fmt.Errorf("%w: empty", ErrBadCommand)
	}
	if cmd[0] != 1 && cmd[0] != commandVersion {
		return Request{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, cmd[0])
	}
	d := &decoder{b: cmd[1:]}
	var req Request
	if cmd[0] == 1 {
		req.Limits = DefaultApplyLimits
	} else {
		req.Limits.MaxRows = d.limit(DefaultApplyLimits.MaxRows)
		req.Limits.MaxBytes = d.limit(DefaultApplyLimits.MaxBytes)
	}
	n := d.count("statement count", 2)
	if n > 0 {
		req.Statements = make([]Statement, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var st Statement
		sqlb := d.bytes("SQL")
		if d.err == nil && !utf8.Valid(sqlb) {
			d.fail("SQL is not UTF-8")
		}
		st.SQL = string(sqlb)
		np := d.count("parameter count", 2)
		if np > 0 {
			st.Params = make([]Param, 0, np)
		}
		for j := 0; j < np && d.err == nil; j++ {
			var p Param
			name := d.bytes("parameter name")
			if d.err == nil && !utf8.Valid(name) {
				d.fail("parameter name is not UTF-8")
			}
			p.Name = string(name)
			switch k := d.byte1("parameter kind"); {
			case d.err != nil:
			case k == kindNull:
			case k == kindInt:
				v, m := binary.Varint(d.b)
				if m <= 0 {
					d.fail("bad integer")
					break
				}
				d.b = d.b[m:]
				p.Value = v
			case k == kindFloat:
				if len(d.b) < 8 {
					d.fail("float truncated")
					break
				}
				p.Value = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
				d.b = d.b[8:]
			case k == kindText:
				t := d.bytes("text")
				if d.err == nil && !utf8.Valid(t) {
					d.fail("text is not UTF-8")
				}
				p.Value = string(t)
			case k == kindBlob:
				bl := d.bytes("blob")
				if d.err == nil {
					p.Value = append([]byte{}, bl...)
				}
			default:
				d.fail(fmt.Sprintf("unknown parameter kind %d", k))
			}
			st.Params = append(st.Params, p)
		}
		req.Statements = append(req.Statements, st)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Request{}, d.err
	}
	return req, nil
}
