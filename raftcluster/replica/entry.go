package replica

import (
	"encoding/binary"
	"fmt"
)

// Log entries of a replica start with a kind byte.
const (
	// kindCommand: the rest is an engine command.
	kindCommand byte = 'S'
	// kindDurable: the rest is a uvarint A, proposed by the writer: the
	// shared database reflects, durably, every entry up to index A.
	kindDurable byte = 'D'
)

// EncodeCommand frames an engine command for the log.
func EncodeCommand(cmd []byte) []byte {
	b := make([]byte, 0, len(cmd)+1)
	return append(append(b, kindCommand), cmd...)
}

// EncodeDurable frames a durable marker for index idx (see
// Replica.DurableIndex).
func EncodeDurable(idx uint64) []byte {
	return binary.AppendUvarint([]byte{kindDurable}, idx)
}

// decodeEntry splits an entry into its kind and payload; for kindDurable
// it also decodes the index.
func decodeEntry(b []byte) (kind byte, payload []byte, idx uint64, err error) {
	if len(b) == 0 {
		return 0, nil, 0, fmt.Errorf("%w: empty", ErrBadEntry)
	}
	switch b[0] {
	case kindCommand:
		return kindCommand, b[1:], 0, nil
	case kindDurable:
		v, n := binary.Uvarint(b[1:])
		if n <= 0 || n != len(b)-1 {
			return 0, nil, 0, fmt.Errorf("%w: bad durable marker", ErrBadEntry)
		}
		return kindDurable, nil, v, nil
	}
	return 0, nil, 0, fmt.Errorf("%w: unknown kind %#x", ErrBadEntry, b[0])
}
