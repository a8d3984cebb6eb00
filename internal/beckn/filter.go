package beckn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxFilterLen bounds a discover filter expression.
const maxFilterLen = 2048

// filter is a parsed discover filter: the JSONPath filter subset the DEG
// discover examples use, `$[?( cond && cond || … )]`, where a condition is
// `@.path OP literal` (OP one of == != < <= > >=) or `@.path` alone
// (exists). && binds tighter than ||; there are no parentheses inside.
//
// A condition whose path an item does not have is not applicable to the
// catalog and counts as true: a filter on the vehicle, say, does not hide
// connectors. Paths pass through arrays: a condition holds when it holds
// for any element.
type filter struct {
	or [][]condition // disjunction of conjunctions
}

type condition struct {
	path []string
	op   string // "" means the path exists
	lit  any    // string, float64, bool or nil
}

// parseFilter parses a filter expression; an empty expression matches
// everything.
func parseFilter(expr string) (*filter, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return &filter{}, nil
	}
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("expression is %d bytes; limit %d", len(s), maxFilterLen)
	}
	body, ok := strings.CutPrefix(s, "$[?(")
	if ok {
		body, ok = strings.CutSuffix(body, ")]")
	}
	if !ok {
		return nil, errors.New(`want a JSONPath filter "$[?(@.path == 'value' && …)]"`)
	}
	p := &filterParser{s: body}
	f := &filter{}
	for {
		conj, err := p.conjunction()
		if err != nil {
			return nil, err
		}
		f.or = append(f.or, conj)
		p.space()
		if p.eof() {
			return f, nil
		}
		if !p.take("||") {
			return nil, fmt.Errorf("unexpected %q at offset %d", p.rest(), p.i)
		}
	}
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) eof() bool    { return p.i >= len(p.s) }
func (p *filterParser) rest() string { r := p.s[p.i:]; return r[:min(len(r), 20)] }

func (p *filterParser) space() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *filterParser) take(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *filterParser) conjunction() ([]condition, error) {
	var out []condition
	for {
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if !p.take("&&") {
			return out, nil
		}
	}
}

func (p *filterParser) condition() (condition, error) {
	var c condition
	if !p.take("@") {
		return c, fmt.Errorf("expected @ at offset %d", p.i)
	}
	for {
		switch {
		case p.take("."):
			start := p.i
			for !p.eof() && !strings.ContainsRune(" \t\r\n.=!<>&|()[]'\"", rune(p.s[p.i])) {
				p.i++
			}
			if p.i == start {
				return c, fmt.Errorf("empty path segment at offset %d", p.i)
			}
			c.path = append(c.path, p.s[start:p.i])
		case p.take("['"):
			end := strings.Index(p.s[p.i:], "']")
			if end < 0 {
				return c, errors.New("unterminated ['…'] path segment")
			}
			// A bracketed segment may itself be dotted, as in the spatial
			// targets: ['a.b.c'].
			c.path = append(c.path, strings.Split(p.s[p.i:p.i+end], ".")...)
			p.i += end + 2
		default:
			if len(c.path) == 0 {
				return c, fmt.Errorf("expected a path after @ at offset %d", p.i)
			}
			return p.comparison(c)
		}
	}
}

func (p *filterParser) comparison(c condition) (condition, error) {
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if p.take(op) {
			c.op = op
			lit, err := p.literal()
			if err != nil {
				return c, err
			}
			c.lit = lit
			return c, nil
		}
	}
	return c, nil // existence test
}

func (p *filterParser) literal() (any, error) {
	p.space()
	if p.eof() {
		return nil, errors.New("expected a value at the end")
	}
	switch q := p.s[p.i]; q {
	case '\'', '"':
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return nil, errors.New("unterminated string")
		}
		v := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return v, nil
	}
	start := p.i
	for !p.eof() && strings.ContainsRune("+-.0123456789eEtruefalsn", rune(p.s[p.i])) {
		p.i++
	}
	word := p.s[start:p.i]
	switch word {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	f, err := strconv.ParseFloat(word, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("value %q at offset %d is not a string, number, true, false or null", word, start)
	}
	return f, nil
}

// match reports whether the filter accepts doc, a JSON value decoded into
// any.
func (f *filter) match(doc any) bool {
	if f == nil || len(f.or) == 0 {
		return true
	}
	for _, conj := range f.or {
		ok := true
		for _, c := range conj {
			if !c.holds(doc) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c condition) holds(doc any) bool {
	vals, found := resolve(doc, c.path)
	if !found {
		return true // not applicable to this catalog
	}
	if c.op == "" {
		return true
	}
	for _, v := range vals {
		if compare(v, c.op, c.lit) {
			return true
		}
	}
	return false
}

// resolve follows path through objects, fanning out over arrays; found
// says whether any value exists there.
func resolve(doc any, path []string) ([]any, bool) {
	cur := []any{doc}
	for _, seg := range path {
		var next []any
		for _, v := range cur {
			next = appendField(next, v, seg)
		}
		if len(next) == 0 {
			return nil, false
		}
		cur = next
	}
	var out []any
	for _, v := range cur {
		if a, ok := v.([]any); ok {
			out = append(out, a...)
		} else {
			out = append(out, v)
		}
	}
	return out, true
}

func appendField(out []any, v any, seg string) []any {
	switch x := v.(type) {
	case map[string]any:
		if f, ok := x[seg]; ok {
			out = append(out, f)
		}
	case []any:
		for _, e := range x {
			out = appendField(out, e, seg)
		}
	}
	return out
}

func compare(v any, op string, lit any) bool {
	switch l := lit.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			return op == "!="
		}
		return cmpResult(strings.Compare(s, l), op)
	case float64:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return op == "!="
			}
		default:
			return op == "!="
		}
		switch {
		case f < l:
			return cmpResult(-1, op)
		case f > l:
			return cmpResult(1, op)
		}
		return cmpResult(0, op)
	case bool:
		b, ok := v.(bool)
		if op == "==" {
			return ok && b == l
		}
		return op == "!=" && (!ok || b != l)
	case nil:
		if op == "==" {
			return v == nil
		}
		return op == "!=" && v != nil
	}
	return false
}

func cmpResult(c int, op string) bool {
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}
