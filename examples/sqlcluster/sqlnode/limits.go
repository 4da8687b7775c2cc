package sqlnode

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// ErrResultTooLarge reports a read whose result exceeds the ResultLimits
// of its context, or a request whose rows exceed its Limits during apply.
// The read or statement stops there and returns no rows; a request rolls
// back.
var ErrResultTooLarge = errors.New("sqlnode: result too large")

// ResultLimits bound the result of one Query (all its statements
// together), so that one read cannot take a node's memory. Zero fields
// mean no bound.
type ResultLimits struct {
	// MaxRows bounds the number of rows.
	MaxRows int64
	// MaxBytes bounds the approximate memory the rows take: the length
	// of each text and blob, 8 bytes for each number, and 16 bytes of
	// overhead for each value and 24 for each row.
	MaxBytes int64
}

// Per-value and per-row overheads counted against ResultLimits.MaxBytes.
const (
	valueOverhead = 16
	rowOverhead   = 24
)

// DefaultApplyLimits are the apply-time bounds of a Request whose Limits
// fields are zero, and of log entries written before requests carried
// their limits. They match httpapi's default read limits.
var DefaultApplyLimits = ResultLimits{MaxRows: 1_000_000, MaxBytes: 64 << 20}

// forApply resolves l as Request.Limits: zero fields take
// DefaultApplyLimits', negative ones mean no bound.
func (l ResultLimits) forApply() ResultLimits {
	if l.MaxRows == 0 {
		l.MaxRows = DefaultApplyLimits.MaxRows
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultApplyLimits.MaxBytes
	}
	return l
}

type limitsKey struct{}

// WithResultLimits returns a context that makes Query enforce l: a read
// whose rows exceed it fails with an error wrapping ErrResultTooLarge.
func WithResultLimits(ctx context.Context, l ResultLimits) context.Context {
	return context.WithValue(ctx, limitsKey{}, l)
}

// budget counts the rows and bytes of one Query, or of one request during
// apply, against its limits; a nil *budget counts nothing.
type budget struct {
	lim         ResultLimits
	rows, bytes int64
	over        bool // the last row counted was not kept
}

// newApplyBudget returns the budget of a request whose Limits are l.
func newApplyBudget(l ResultLimits) *budget { return &budget{lim: l.forApply()} }

// collected returns how many rows were counted and kept.
func (b *budget) collected() int64 {
	if b == nil {
		return 0
	}
	if b.over {
		return b.rows - 1
	}
	return b.rows
}

// newBudget returns the budget of ctx's ResultLimits, nil if it has none.
func newBudget(ctx context.Context) *budget {
	l, ok := ctx.Value(limitsKey{}).(ResultLimits)
	if !ok || (l.MaxRows <= 0 && l.MaxBytes <= 0) {
		return nil
	}
	return &budget{lim: l}
}

// addRow counts the row that stmt is on, before it is copied out.
func (b *budget) addRow(stmt *sqlite3.Stmt, ncol int) error {
	if b == nil {
		return nil
	}
	b.rows++
	if b.lim.MaxRows > 0 && b.rows > b.lim.MaxRows {
		b.over = true
		return fmt.Errorf("%w: more than %d rows; add a LIMIT, or page with WHERE on a key", ErrResultTooLarge, b.lim.MaxRows)
	}
	if b.lim.MaxBytes <= 0 {
		return nil
	}
	n := int64(rowOverhead + ncol*valueOverhead)
	for i := range ncol {
		switch stmt.ColumnType(i) {
		case sqlite3.INTEGER, sqlite3.FLOAT:
			n += 8
		case sqlite3.TEXT:
			n += int64(len(stmt.ColumnRawText(i))) // no copy
		case sqlite3.BLOB:
			n += int64(len(stmt.ColumnRawBlob(i)))
		}
	}
	b.bytes += n
	if b.bytes > b.lim.MaxBytes {
		b.over = true
		return fmt.Errorf("%w: more than %d bytes; add a LIMIT, select fewer columns, or page with WHERE on a key", ErrResultTooLarge, b.lim.MaxBytes)
	}
	return nil
}
