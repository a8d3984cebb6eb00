package ocpp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Validator checks payloads against a version's official JSON schemas.
//
// The schemas are compiled once, when the Validator is made, into a tree of
// checks that is run over the payload's bytes directly: no value tree is
// built, so validating a MeterValues costs a few microseconds and almost no
// allocation. It implements exactly the keywords the OCPP 1.6 and 2.0.1
// schemas use (type, properties, required, additionalProperties, enum,
// maxLength, minItems, maxItems, items, multipleOf, minimum, maximum,
// format date-time, $ref to definitions) and refuses to compile a schema
// with any other validation keyword. A differential fuzz test holds it to
// the verdicts of a general JSON Schema implementation.
type Validator struct {
	schemas map[string]*node
}

// node is one compiled (sub)schema.
type node struct {
	types typeSet
	props map[string]*node
	// propList is props in name order, searched instead of the map when
	// short (every OCPP object): comparing a few names is cheaper than
	// hashing one.
	propList   []prop
	required   []string
	closed     bool // additionalProperties: false
	enum       []string
	maxLength  int // -1: none
	minItems   int
	maxItems   int // -1: none
	items      *node
	multipleOf *big.Rat
	minimum    *big.Rat
	maximum    *big.Rat
	dateTime   bool
}

// prop is one of an object's named properties.
type prop struct {
	name string
	n    *node
}

// maxListedProps is the most properties looked up by a search of
// propList rather than in the map.
const maxListedProps = 16

// prop returns the schema of the property named key, if the object has one.
func (n *node) prop(key []byte) (*node, bool) {
	if len(n.propList) > maxListedProps {
		p, ok := n.props[string(key)]
		return p, ok
	}
	for _, p := range n.propList {
		if p.name == string(key) {
			return p.n, true
		}
	}
	return nil, false
}

type typeSet uint8

const (
	tObject typeSet = 1 << iota
	tArray
	tString
	tInteger
	tNumber
	tBoolean
	tNull
	tAny typeSet = 0xff
)

// keywords a schema may carry that do not constrain values.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "id": true, "title": true, "description": true,
	"javaType": true, "definitions": true, "$comment": true, "default": true, "comment": true,
}

// NewValidator compiles every *.json schema in fsys. A schema is found by its
// file name without the extension: "StartTransaction" for a 1.6 request,
// "StartTransactionResponse" for its response.
//
// The date-time format is checked leniently: a timestamp without a time zone
// passes the schema, so the handler can apply its per-charger tolerance and
// log what it tolerated. Everything else the schemas say is enforced.
func NewValidator(fsys fs.FS) (*Validator, error) {
	return NewValidatorNamed(fsys, func(file string) string { return strings.TrimSuffix(file, ".json") })
}

// NewValidatorNamed is NewValidator with the schema names chosen by name,
// which is given each file's base name ("TransactionEventRequest.json").
func NewValidatorNamed(fsys fs.FS, name func(file string) string) (*Validator, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no *.json schemas found")
	}
	v := &Validator{schemas: make(map[string]*node, len(names))}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		c := compiler{root: doc, done: map[string]*node{}}
		nd, err := c.compile(doc, "#")
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		v.schemas[name(path.Base(n))] = nd
	}
	return v, nil
}

type compiler struct {
	root map[string]any
	done map[string]*node
}

func (c *compiler) compile(s map[string]any, at string) (*node, error) {
	if ref, ok := s["$ref"].(string); ok {
		if len(s) != 1 {
			return nil, fmt.Errorf("%s: $ref beside other keywords is not supported", at)
		}
		if n, ok := c.done[ref]; ok {
			return n, nil
		}
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		defs, _ := c.root["definitions"].(map[string]any)
		target, found := defs[name].(map[string]any)
		if !ok || !found {
			return nil, fmt.Errorf("%s: unresolvable $ref %q", at, ref)
		}
		n := &node{}
		c.done[ref] = n // recursion-safe: filled below
		compiled, err := c.compile(target, ref)
		if err != nil {
			return nil, err
		}
		*n = *compiled
		return n, nil
	}
	n := &node{types: tAny, maxLength: -1, maxItems: -1}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := s[k]
		var err error
		switch k {
		case "type":
			n.types, err = parseTypes(val)
		case "properties":
			props, ok := val.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: properties is not an object", at)
			}
			n.props = make(map[string]*node, len(props))
			for name, p := range props {
				ps, ok := p.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s/%s: not a schema", at, name)
				}
				if n.props[name], err = c.compile(ps, at+"/"+name); err != nil {
					return nil, err
				}
			}
			for name, p := range n.props {
				n.propList = append(n.propList, prop{name, p})
			}
			sort.Slice(n.propList, func(i, j int) bool { return n.propList[i].name < n.propList[j].name })
		case "required":
			list, _ := val.([]any)
			for _, r := range list {
				if name, ok := r.(string); ok {
					n.required = append(n.required, name)
				}
			}
		case "additionalProperties":
			b, ok := val.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: only a boolean additionalProperties is supported", at)
			}
			n.closed = !b
		case "enum":
			list, _ := val.([]any)
			for _, e := range list {
				es, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("%s: only string enums are supported", at)
				}
				n.enum = append(n.enum, es)
			}
		case "maxLength":
			n.maxLength, err = intKeyword(val)
		case "minItems":
			n.minItems, err = intKeyword(val)
		case "maxItems":
			n.maxItems, err = intKeyword(val)
		case "items":
			is, ok := val.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: only a single-schema items is supported", at)
			}
			n.items, err = c.compile(is, at+"/items")
		case "multipleOf":
			n.multipleOf, err = ratKeyword(val)
		case "minimum":
			n.minimum, err = ratKeyword(val)
		case "maximum":
			n.maximum, err = ratKeyword(val)
		case "format":
			n.dateTime = val == "date-time"
		case "additionalItems":
			// Only meaningful when items is a list of schemas, which the
			// compiler refuses; beside a single items schema it is ignored.
			if _, ok := s["items"].(map[string]any); !ok {
				return nil, fmt.Errorf("%s: additionalItems without a single items schema is not supported", at)
			}
		default:
			if !annotations[k] {
				return nil, fmt.Errorf("%s: keyword %q is not supported by this validator", at, k)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", at, k, err)
		}
	}
	return n, nil
}

func parseTypes(v any) (typeSet, error) {
	one := func(s string) (typeSet, error) {
		switch s {
		case "object":
			return tObject, nil
		case "array":
			return tArray, nil
		case "string":
			return tString, nil
		case "integer":
			return tInteger, nil
		case "number":
			return tNumber | tInteger, nil
		case "boolean":
			return tBoolean, nil
		case "null":
			return tNull, nil
		}
		return 0, fmt.Errorf("unknown type %q", s)
	}
	switch t := v.(type) {
	case string:
		return one(t)
	case []any:
		var set typeSet
		for _, e := range t {
			s, _ := e.(string)
			x, err := one(s)
			if err != nil {
				return 0, err
			}
			set |= x
		}
		return set, nil
	}
	return 0, errors.New("type is neither a string nor a list")
}

func intKeyword(v any) (int, error) {
	f, ok := v.(float64)
	if !ok || f < 0 || f != float64(int(f)) {
		return 0, fmt.Errorf("not a non-negative integer: %v", v)
	}
	return int(f), nil
}

func ratKeyword(v any) (*big.Rat, error) {
	f, ok := v.(float64)
	if !ok {
		return nil, fmt.Errorf("not a number: %v", v)
	}
	r, ok := new(big.Rat).SetString(fmt.Sprint(f))
	if !ok {
		return nil, fmt.Errorf("not a number: %v", v)
	}
	return r, nil
}

// Has reports whether a schema of that name exists.
func (v *Validator) Has(name string) bool {
	_, ok := v.schemas[name]
	return ok
}

// Validate checks payload against the named schema. A violation comes back
// as the *Error the OCPP-J spec prescribes for its kind:
// FormationViolation for a payload that is not JSON or not the message's
// structure (wrong top-level type, unknown or repeated properties),
// OccurenceConstraintViolation for a missing required field or too few or
// many items, TypeConstraintViolation for a value of the wrong JSON type,
// PropertyConstraintViolation for a value out of its range (length, enum,
// format, multiple, minimum, maximum).
func (v *Validator) Validate(name string, payload []byte) *Error {
	_, e := v.validate(name, payload, false)
	return e
}

// Deviation is a value the schema refuses that a lenient reading can
// still take as sent: a string longer than its maxLength, or a string
// that is not one of its enum's values.
type Deviation struct {
	// Kind is "string-too-long" or "unknown-enum".
	Kind string
	// Path is the value's JSON pointer, Value the value (unclipped).
	Path, Value string
	// Err is the error Validate gives for it.
	Err *Error
}

// ValidateLenient checks payload like Validate, except that deviations
// (over-long strings, unknown enum values) do not fail it: they come back
// in order, and e is the first other violation, or nil.
func (v *Validator) ValidateLenient(name string, payload []byte) (devs []Deviation, e *Error) {
	return v.validate(name, payload, true)
}

func (v *Validator) validate(name string, payload []byte, lenient bool) ([]Deviation, *Error) {
	n, ok := v.schemas[name]
	if !ok {
		return nil, Errorf(NotImplemented, "no schema for %s", name)
	}
	vs := validations.Get().(*validation)
	vs.sc = scanner{b: payload}
	vs.s, vs.lenient = &vs.sc, lenient
	vs.path = vs.pathBuf[:0]
	defer vs.release()
	s := vs.s
	if c := s.peek(); c != '{' && c != '[' && c != '"' && c != 't' && c != 'f' && c != 'n' && c != '-' && (c < '0' || c > '9') {
		return nil, Errorf(FormationViolation, "payload is not valid JSON")
	}
	e := vs.value(n, 0)
	if e == nil && !s.end() {
		e = Errorf(FormationViolation, "payload is not valid JSON")
	}
	return vs.devs, e
}

// validations holds validation runs for reuse: a run's path buffer made
// it a heap allocation of about 350 bytes per validated call.
var validations = sync.Pool{New: func() any { return new(validation) }}

// release returns v to validations without the references it held (the
// payload, the path's names into it, the deviations now the caller's).
func (v *validation) release() {
	*v = validation{}
	validations.Put(v)
}

// validation is one run over a payload; path is kept only for messages,
// and only turned into text for one.
type validation struct {
	s       *scanner
	sc      scanner
	path    []pathElem
	pathBuf [8]pathElem
	// lenient collects deviations in devs instead of failing on them.
	lenient bool
	devs    []Deviation
}

// deviate fails on a deviation, or notes it when lenient.
func (v *validation) deviate(kind string, str []byte, e *Error) *Error {
	if !v.lenient {
		return e
	}
	v.devs = append(v.devs, Deviation{Kind: kind, Path: v.at(), Value: string(str), Err: e})
	return nil
}

// pathElem is a property name, or an array index when name is nil.
type pathElem struct {
	name  []byte
	index int
}

func (v *validation) at() string {
	parts := make([]string, len(v.path))
	for i, p := range v.path {
		if p.name != nil {
			parts[i] = string(p.name)
		} else {
			parts[i] = strconv.Itoa(p.index)
		}
	}
	return "/" + strings.Join(parts, "/")
}

func (v *validation) fail(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Description: "at " + v.at() + ": " + fmt.Sprintf(format, args...)}
}

func (v *validation) syntax() *Error {
	return &Error{Code: FormationViolation, Description: "payload is not valid JSON"}
}

// typeErr reports a value of the wrong type: at the top level that is the
// wrong PDU structure, below it a type constraint.
func (v *validation) typeErr(want typeSet) *Error {
	code := TypeConstraintViolation
	if len(v.path) == 0 {
		code = FormationViolation
	}
	return v.fail(code, "got the wrong type; want %s", want)
}

func (t typeSet) String() string {
	var names []string
	for _, x := range []struct {
		t    typeSet
		name string
	}{{tObject, "object"}, {tArray, "array"}, {tString, "string"}, {tNumber, "number"}, {tBoolean, "boolean"}, {tNull, "null"}} {
		if t&x.t != 0 {
			names = append(names, x.name)
		}
	}
	if t&tInteger != 0 && t&tNumber == 0 {
		names = append(names, "integer")
	}
	return strings.Join(names, " or ")
}

func (v *validation) value(n *node, depth int) *Error {
	if depth > maxDepth {
		return v.syntax()
	}
	s := v.s
	switch c := s.peek(); {
	case c == '{':
		if n.types&tObject == 0 {
			if err := s.skip(depth); err != nil {
				return v.syntax()
			}
			return v.typeErr(n.types)
		}
		return v.object(n, depth)
	case c == '[':
		if n.types&tArray == 0 {
			if err := s.skip(depth); err != nil {
				return v.syntax()
			}
			return v.typeErr(n.types)
		}
		return v.array(n, depth)
	case c == '"':
		str, err := s.str()
		if err != nil {
			return v.syntax()
		}
		if n.types&tString == 0 {
			return v.typeErr(n.types)
		}
		return v.stringValue(n, str)
	case c == 't', c == 'f':
		word := "true"
		if c == 'f' {
			word = "false"
		}
		if s.literal(word) != nil {
			return v.syntax()
		}
		if n.types&tBoolean == 0 {
			return v.typeErr(n.types)
		}
		return v.enumOnly(n)
	case c == 'n':
		if s.literal("null") != nil {
			return v.syntax()
		}
		if n.types&tNull == 0 {
			return v.typeErr(n.types)
		}
		return v.enumOnly(n)
	case c == '-' || c >= '0' && c <= '9':
		tok, frac, err := s.number()
		if err != nil {
			return v.syntax()
		}
		return v.numberValue(n, tok, frac)
	}
	return v.syntax()
}

// enumOnly fails a non-string value against a string enum.
func (v *validation) enumOnly(n *node) *Error {
	if len(n.enum) > 0 {
		return v.fail(PropertyConstraintViolation, "value is not one of %s", strings.Join(n.enum, ", "))
	}
	return nil
}

func (v *validation) object(n *node, depth int) *Error {
	s := v.s
	s.i++ // {
	// seen holds the names read so far (they point into the payload
	// unless escaped), to find duplicates and missing required ones.
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	var firstErr *Error
	if !s.expect('}') {
		for {
			key, err := s.str()
			if err != nil || !s.expect(':') {
				return v.syntax()
			}
			for _, k := range seen {
				if string(k) == string(key) {
					return v.fail(FormationViolation, "property %q appears twice", key)
				}
			}
			seen = append(seen, key)
			child, known := n.prop(key)
			switch {
			case known:
				v.path = append(v.path, pathElem{name: key})
				e := v.value(child, depth+1)
				v.path = v.path[:len(v.path)-1]
				if e != nil && e.Code == FormationViolation && e.Description == "payload is not valid JSON" {
					return e
				}
				if e != nil && firstErr == nil {
					firstErr = e
				}
			default:
				if err := s.skip(depth + 1); err != nil {
					return v.syntax()
				}
				if n.closed && firstErr == nil {
					firstErr = v.fail(FormationViolation, "property %q is not allowed", key)
				}
			}
			if s.expect('}') {
				break
			}
			if !s.expect(',') {
				return v.syntax()
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	for _, r := range n.required {
		found := false
		for _, k := range seen {
			if string(k) == r {
				found = true
				break
			}
		}
		if !found {
			return v.fail(OccurenceConstraintViolation, "required property %q is missing", r)
		}
	}
	return v.enumOnly(n)
}

func (v *validation) array(n *node, depth int) *Error {
	s := v.s
	s.i++ // [
	count := 0
	var firstErr *Error
	if !s.expect(']') {
		for {
			if n.items != nil {
				v.path = append(v.path, pathElem{index: count})
				e := v.value(n.items, depth+1)
				v.path = v.path[:len(v.path)-1]
				if e != nil && e.Code == FormationViolation && e.Description == "payload is not valid JSON" {
					return e
				}
				if e != nil && firstErr == nil {
					firstErr = e
				}
			} else if err := s.skip(depth + 1); err != nil {
				return v.syntax()
			}
			count++
			if s.expect(']') {
				break
			}
			if !s.expect(',') {
				return v.syntax()
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if count < n.minItems {
		return v.fail(OccurenceConstraintViolation, "%d items; want at least %d", count, n.minItems)
	}
	if n.maxItems >= 0 && count > n.maxItems {
		return v.fail(OccurenceConstraintViolation, "%d items; want at most %d", count, n.maxItems)
	}
	return v.enumOnly(n)
}

func (v *validation) stringValue(n *node, str []byte) *Error {
	if n.maxLength >= 0 && len(str) > n.maxLength && runeCount(str) > n.maxLength {
		if e := v.deviate("string-too-long", str, v.fail(PropertyConstraintViolation, "%d characters; want at most %d", runeCount(str), n.maxLength)); e != nil {
			return e
		}
	}
	if len(n.enum) > 0 {
		ok := false
		for _, e := range n.enum {
			if e == string(str) {
				ok = true
				break
			}
		}
		if !ok {
			if e := v.deviate("unknown-enum", str, v.fail(PropertyConstraintViolation, "%q is not one of %s", str, strings.Join(n.enum, ", "))); e != nil {
				return e
			}
		}
	}
	if n.dateTime {
		// str is only read during the call (ParseTimestamp's error
		// quotes a copy), so it needs no string of its own.
		if _, _, err := ParseTimestamp(unsafe.String(unsafe.SliceData(str), len(str))); err != nil {
			return v.fail(PropertyConstraintViolation, "%v", err)
		}
	}
	return nil
}

func (v *validation) numberValue(n *node, tok []byte, frac bool) *Error {
	if n.types&(tInteger|tNumber) == 0 {
		return v.typeErr(n.types)
	}
	var r *big.Rat
	rat := func() *big.Rat {
		if r == nil {
			r, _ = new(big.Rat).SetString(string(tok))
		}
		return r
	}
	if n.types&tNumber == 0 && frac {
		// integer: a number with a fraction or exponent still counts when
		// its value is whole (1.0, 1e2), as JSON Schema says.
		if x := rat(); x == nil || !x.IsInt() {
			return v.typeErr(n.types)
		}
	}
	if n.multipleOf != nil {
		if x := rat(); x == nil || !new(big.Rat).Quo(x, n.multipleOf).IsInt() {
			return v.fail(PropertyConstraintViolation, "%s is not a multiple of %s", tok, n.multipleOf.RatString())
		}
	}
	if n.minimum != nil {
		if x := rat(); x == nil || x.Cmp(n.minimum) < 0 {
			return v.fail(PropertyConstraintViolation, "%s is below the minimum %s", tok, n.minimum.RatString())
		}
	}
	if n.maximum != nil {
		if x := rat(); x == nil || x.Cmp(n.maximum) > 0 {
			return v.fail(PropertyConstraintViolation, "%s is above the maximum %s", tok, n.maximum.RatString())
		}
	}
	return v.enumOnly(n)
}

// Timestamp layouts accepted without a zone, most common first.
var zonelessLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// ParseTimestamp reads an OCPP timestamp. A timestamp with a zone or offset
// is returned in UTC with zoned true. One without a zone is read as UTC and
// returned with zoned false, so the caller can apply its tolerance policy.
func ParseTimestamp(s string) (t time.Time, zoned bool, err error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true, nil
	}
	for _, l := range zonelessLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%q is not an RFC 3339 date-time", s)
}
