package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodeStatements decodes a batch of 100 INSERTs with an
// integer and a text parameter each, as the bench's batch load sends.
func BenchmarkDecodeStatements(b *testing.B) {
	var parts []string
	for i := range 100 {
		parts = append(parts, fmt.Sprintf(`["INSERT INTO t(n, v) VALUES(?, ?)", %d, "some text of moderate length %d"]`, i*1000, i))
	}
	body := []byte("[" + strings.Join(parts, ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeStatements(body); err != nil {
			b.Fatal(err)
		}
	}
}
