package sqlnode

import "strconv"

// paramMap finds the Param that a parameter token binds to, with the same
// rules as binding at apply time: the k-th positional Param binds to SQLite
// parameter number k, a named Param binds by name.
type paramMap struct {
	params []Param     // a copy of the statement's params, edited in place
	pos    []int       // indexes into params of the positional ones
	num    map[int]int // token index -> SQLite parameter number, for ? and ?NNN
}

func newParamMap(ps []Param) *paramMap {
	m := &paramMap{num: map[int]int{}}
	if ps != nil {
		m.params = append([]Param(nil), ps...)
	}
	for i, p := range m.params {
		if p.Name == "" {
			m.pos = append(m.pos, i)
		}
	}
	return m
}

// number assigns SQLite's parameter numbers to the tokens of one statement:
// "?" takes the largest number so far plus one, "?NNN" takes NNN, a new
// name takes the largest plus one.
func (m *paramMap) number(src string, toks []token) {
	max := 0
	names := map[string]bool{}
	for i, t := range toks {
		if t.kind != tokParam {
			continue
		}
		s := t.text(src)
		switch {
		case s == "?":
			max++
			m.num[i] = max
		case s[0] == '?':
			n, err := strconv.Atoi(s[1:])
			if err != nil {
				continue
			}
			m.num[i] = n
			if n > max {
				max = n
			}
		case !names[s]:
			names[s] = true
			max++
		}
	}
}

// find returns the index in params of the Param that the parameter token
// tok (text s, token index i) binds to.
func (m *paramMap) find(s string, i int) (int, bool) {
	if s[0] == '?' {
		n, ok := m.num[i]
		if !ok || n < 1 || n > len(m.pos) {
			return 0, false
		}
		return m.pos[n-1], true
	}
	for j, p := range m.params {
		if p.Name != "" && (p.Name == s || p.Name == s[1:]) {
			return j, true
		}
	}
	return 0, false
}

// text returns the value of the Param bound to the token if it is text.
func (m *paramMap) text(s string, i int) (string, bool) {
	j, ok := m.find(s, i)
	if !ok {
		return "", false
	}
	v, ok := m.params[j].Value.(string)
	return v, ok
}

func (m *paramMap) set(s string, i int, v string) {
	if j, ok := m.find(s, i); ok {
		m.params[j].Value = v
	}
}

func (m *paramMap) result() []Param { return m.params }
