package sqlnode

// tokKind classifies a token of SQLite's SQL dialect, as far as the
// rewriter needs it.
type tokKind uint8

const (
	tokSpace   tokKind = iota + 1 // whitespace
	tokComment                    // -- to end of line, or /* ... */
	tokString                     // '...'
	tokQuoted                     // "..." `...` [...]: an identifier
	tokBlob                       // X'...'
	tokNumber                     // 12, 1.5e3, 0x1F
	tokIdent                      // a bare word: identifier or keyword
	tokParam                      // ? ?7 :name @name $name
	tokPunct                      // anything else, one operator or byte
	tokBad                        // an unterminated literal or identifier
)

// token is one token: a kind and the half-open byte range [start,end) of the
// source it covers.
type token struct {
	kind       tokKind
	start, end int
}

func (t token) text(src string) string { return src[t.start:t.end] }

// tokenize splits src into tokens covering every byte, in order. It never
// fails: an unterminated string, quoted identifier or blob literal becomes a
// tokBad token running to the end of src, and an unterminated block comment
// runs to the end as SQLite's own tokenizer does.
func tokenize(src string) []token {
	var toks []token
	for i := 0; i < len(src); {
		k, n := scanToken(src[i:])
		toks = append(toks, token{kind: k, start: i, end: i + n})
		i += n
	}
	return toks
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// scanQuoted scans a literal that starts with the quote s[0] and ends with
// close, where a doubled close stands for itself (not for ']'). It returns the
// length, and false if the literal is unterminated.
func scanQuoted(s string, close byte, doubling bool) (int, bool) {
	for i := 1; i < len(s); i++ {
		if s[i] == close {
			if doubling && i+1 < len(s) && s[i+1] == close {
				i++
				continue
			}
			return i + 1, true
		}
	}
	return len(s), false
}

// scanToken returns the kind and length of the token at the start of s
// (len(s) > 0). The length is at least 1.
func scanToken(s string) (tokKind, int) {
	c := s[0]
	switch {
	case isSpace(c):
		n := 1
		for n < len(s) && isSpace(s[n]) {
			n++
		}
		return tokSpace, n
	case c == '-' && len(s) > 1 && s[1] == '-':
		n := 2
		for n < len(s) && s[n] != '\n' {
			n++
		}
		return tokComment, n
	case c == '/' && len(s) > 1 && s[1] == '*':
		for n := 2; n+1 < len(s); n++ {
			if s[n] == '*' && s[n+1] == '/' {
				return tokComment, n + 2
			}
		}
		return tokComment, len(s)
	case c == '\'':
		n, ok := scanQuoted(s, '\'', true)
		if !ok {
			return tokBad, n
		}
		return tokString, n
	case c == '"' || c == '`':
		n, ok := scanQuoted(s, c, true)
		if !ok {
			return tokBad, n
		}
		return tokQuoted, n
	case c == '[':
		n, ok := scanQuoted(s, ']', false)
		if !ok {
			return tokBad, n
		}
		return tokQuoted, n
	case (c == 'x' || c == 'X') && len(s) > 1 && s[1] == '\'':
		n, ok := scanQuoted(s[1:], '\'', false)
		if !ok {
			return tokBad, n + 1
		}
		return tokBlob, n + 1
	case isDigit(c) || c == '.' && len(s) > 1 && isDigit(s[1]):
		return tokNumber, scanNumber(s)
	case isIdentStart(c):
		n := 1
		for n < len(s) && isIdentChar(s[n]) {
			n++
		}
		return tokIdent, n
	case c == '?':
		n := 1
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		return tokParam, n
	case c == ':' || c == '@' || c == '$':
		n := 1
		for n < len(s) && isIdentChar(s[n]) {
			n++
		}
		if n == 1 {
			return tokPunct, 1
		}
		return tokParam, n
	}
	// Multi-byte operators are irrelevant to the rewriter except that "--"
	// and "/*" must not be split, which the cases above handle.
	return tokPunct, 1
}

// scanNumber scans a numeric literal: decimal with optional fraction and
// exponent, or hexadecimal. Trailing identifier characters are taken too, so
// that "12abc" (an error in SQLite) stays one token.
func scanNumber(s string) int {
	n := 0
	if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		n = 2
	} else {
		for n < len(s) && (isDigit(s[n]) || s[n] == '_') {
			n++
		}
		if n < len(s) && s[n] == '.' {
			n++
			for n < len(s) && (isDigit(s[n]) || s[n] == '_') {
				n++
			}
		}
		if n+1 < len(s) && (s[n] == 'e' || s[n] == 'E') &&
			(isDigit(s[n+1]) || (s[n+1] == '+' || s[n+1] == '-') && n+2 < len(s) && isDigit(s[n+2])) {
			n += 2
		}
	}
	for n < len(s) && isIdentChar(s[n]) {
		n++
	}
	return n
}
