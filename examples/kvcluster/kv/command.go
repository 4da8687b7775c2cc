package kv

import (
	"encoding/binary"
	"fmt"

	"github.com/holeycow/holeycow/raftcluster/replica"
)

// OpKind is what an Op does.
type OpKind uint8

// The kinds of Op.
const (
	OpPut    OpKind = 1
	OpDelete OpKind = 2
)

// Op is one write of a batch.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte // OpPut only
}

// Put returns an Op that sets key to value.
func Put(key, value []byte) Op { return Op{Kind: OpPut, Key: key, Value: value} }

// Delete returns an Op that removes key.
func Delete(key []byte) Op { return Op{Kind: OpDelete, Key: key} }

// MaxKeyLen bounds a key's length.
const MaxKeyLen = 4096

func (o Op) check() error {
	if len(o.Key) == 0 || len(o.Key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes (1..%d)", ErrBadOp, len(o.Key), MaxKeyLen)
	}
	switch o.Kind {
	case OpPut:
	case OpDelete:
		if len(o.Value) != 0 {
			return fmt.Errorf("%w: delete with a value", ErrBadOp)
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrBadOp, o.Kind)
	}
	return nil
}

// Encode returns the log command for a batch: a version byte, then per op
// its kind and the uvarint-prefixed key and value.
func Encode(ops []Op) ([]byte, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrBadOp)
	}
	b := []byte{1}
	for _, o := range ops {
		if err := o.check(); err != nil {
			return nil, err
		}
		b = append(b, byte(o.Kind))
		b = binary.AppendUvarint(b, uint64(len(o.Key)))
		b = append(b, o.Key...)
		b = binary.AppendUvarint(b, uint64(len(o.Value)))
		b = append(b, o.Value...)
	}
	return b, nil
}

// Command returns the log entry that writes a batch: Encode's command
// framed for the replica (replica.EncodeCommand). Propose this, not
// Encode's output, to the node.
func Command(ops ...Op) ([]byte, error) {
	b, err := Encode(ops)
	if err != nil {
		return nil, err
	}
	return replica.EncodeCommand(b), nil
}

// Decode is Encode's inverse.
func Decode(b []byte) ([]Op, error) {
	if len(b) == 0 || b[0] != 1 {
		return nil, fmt.Errorf("%w: unknown command version", ErrBadCommand)
	}
	b = b[1:]
	var ops []Op
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, true
	}
	for len(b) > 0 {
		o := Op{Kind: OpKind(b[0])}
		b = b[1:]
		var ok1, ok2 bool
		o.Key, ok1 = field()
		o.Value, ok2 = field()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: truncated", ErrBadCommand)
		}
		if err := o.check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrBadCommand)
	}
	return ops, nil
}
