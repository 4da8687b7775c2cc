package sqlnode

import "strings"

// writeKeywords start statements that sqlite3_stmt_readonly never calls
// read-only (CREATE ... IF NOT EXISTS included).
var writeKeywords = map[string]bool{"INSERT": true, "UPDATE": true, "DELETE": true, "REPLACE": true,
	"CREATE": true, "DROP": true, "ALTER": true}

// startsWithWrite reports whether sql's first token, past spaces and
// comments, is one of writeKeywords. False means "maybe read-only".
func startsWithWrite(sql string) bool {
	for i := 0; i < len(sql); {
		k, n := scanToken(sql[i:])
		switch k {
		case tokSpace, tokComment:
			i += n
		case tokIdent:
			return n <= 7 && writeKeywords[strings.ToUpper(sql[i:i+n])]
		default:
			return false
		}
	}
	return false
}
