package cluster

import (
	"encoding/binary"
	"fmt"
)

// Log entries of this package start with a kind byte.
const (
	// kindSQL: the rest is a sqlnode command (sqlnode.Prepare's bytes).
	kindSQL byte = 'S'
	// kindDurable: the rest is a uvarint A, proposed by the writer: the
	// shared database reflects, durably, every entry up to index A.
	kindDurable byte = 'D'
)

// Responses of the application callback (the result itself stays in
// process: see engine.results).
var (
	respApplied  = []byte{'a'}
	respDeferred = []byte{'d'}
)

func encodeSQL(cmd []byte) []byte {
	b := make([]byte, 0, len(cmd)+1)
	return append(append(b, kindSQL), cmd...)
}

func encodeDurable(idx uint64) []byte {
	return binary.AppendUvarint([]byte{kindDurable}, idx)
}

// decodeEntry splits an entry into its kind and payload; for kindDurable
// it also decodes the index.
func decodeEntry(b []byte) (kind byte, payload []byte, idx uint64, err error) {
	if len(b) == 0 {
		return 0, nil, 0, fmt.Errorf("%w: empty", ErrBadEntry)
	}
	switch b[0] {
	case kindSQL:
		return kindSQL, b[1:], 0, nil
	case kindDurable:
		v, n := binary.Uvarint(b[1:])
		if n <= 0 || n != len(b)-1 {
			return 0, nil, 0, fmt.Errorf("%w: bad durable marker", ErrBadEntry)
		}
		return kindDurable, nil, v, nil
	}
	return 0, nil, 0, fmt.Errorf("%w: unknown kind %#x", ErrBadEntry, b[0])
}
