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

// singleSelect reports whether sql is one SELECT or VALUES statement (a
// trailing semicolon, spaces and comments aside): it reads in a read
// transaction of its own, so Query runs it without BEGIN and ROLLBACK.
// False means "maybe not".
func singleSelect(sql string) bool {
	seenFirst, ended := false, false
	for i := 0; i < len(sql); {
		k, n := scanToken(sql[i:])
		tok := sql[i : i+n]
		i += n
		switch {
		case k == tokSpace || k == tokComment:
		case ended:
			return false // something after the first statement's semicolon
		case !seenFirst:
			if k != tokIdent || n > 6 {
				return false
			}
			if w := strings.ToUpper(tok); w != "SELECT" && w != "VALUES" {
				return false
			}
			seenFirst = true
		case k == tokPunct && tok == ";":
			ended = true
		case k == tokBad:
			return false
		}
	}
	return seenFirst
}
