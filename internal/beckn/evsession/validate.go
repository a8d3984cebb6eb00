package evsession

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schema/ev-charging-session-v2.0.json
var schemaJSON []byte

// Schema returns chargebridge's JSON Schema (draft 2020-12) for the
// EvChargingSession v2.0 attribute pack, for publishing or for peers. Its
// description lists where it is stricter than the upstream attribute list.
func Schema() []byte {
	return bytes.Clone(schemaJSON)
}

const schemaURL = "urn:chargebridge:beckn:deg:EvChargingSession:v2.0"

// Validator checks and decodes EvChargingSession documents against the
// embedded schema (see Schema). It is safe for concurrent use; build one at start-up.
type Validator struct {
	schema *jsonschema.Schema
}

// NewValidator compiles the embedded schema, asserting formats (date-time)
// as well as structure.
func NewValidator() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("evsession schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("evsession schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("evsession schema: %w", err)
	}
	return &Validator{schema: s}, nil
}

// Validate checks doc, one JSON object, against the schema. It returns an
// error wrapping ErrNotJSON when doc does not parse, and a *ValidationError
// listing every violation when it does not conform.
func (v *Validator) Validate(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	return v.validate(inst)
}

func (v *Validator) validate(inst any) error {
	// Screen numbers first: the schema library turns every number into a
	// big.Rat, which takes long for huge exponents and panics for some.
	var bad ValidationError
	checkNumbers(inst, nil, &bad)
	if len(bad.Problems) > 0 {
		return &bad
	}
	err := v.schema.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("evsession: %w", err)
	}
	p := message.NewPrinter(language.English)
	out := &ValidationError{}
	collectProblems(ve, p, out)
	return out
}

// ErrNotJSON is returned (wrapped) for a document that is not a single JSON
// value.
var ErrNotJSON = errors.New("not JSON")

// ValidationError lists why a document does not conform to the schema.
type ValidationError struct {
	Problems []Problem
}

// Problem is one schema violation.
type Problem struct {
	// Path is the JSON Pointer of the offending value ("" is the whole
	// document).
	Path string
	// Keyword is the schema keyword that failed: "enum", "const",
	// "required", "additionalProperties", "minimum", "maximum", "type",
	// "format", "minItems", …; or "number" for a numeral this package
	// refuses to process (see maxNumberLen).
	Keyword string
	// Message says what is wrong, in English.
	Message string
}

// Error lists the problems, one per line after the first.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("EvChargingSession does not conform to its schema:")
	for _, p := range e.Problems {
		path := p.Path
		if path == "" {
			path = "(document)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", path, p.Message)
	}
	return b.String()
}

// collectProblems adds the leaves of the validator's error tree: the
// keywords that actually failed, as opposed to the allOf/$ref/if wrappers
// above them.
func collectProblems(e *jsonschema.ValidationError, p *message.Printer, out *ValidationError) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collectProblems(c, p, out)
		}
		return
	}
	kw := ""
	if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
		kw = kp[len(kp)-1]
	}
	out.Problems = append(out.Problems, Problem{
		Path:    pointer(e.InstanceLocation),
		Keyword: kw,
		Message: e.ErrorKind.LocalizedString(p),
	})
}

// Numerals in a document must be at most maxNumberLen bytes long, with an
// exponent of at most maxNumberExp in magnitude, and within float64 range.
// Nothing in the pack needs more, and bigger ones are costly to compare.
const (
	maxNumberLen = 64
	maxNumberExp = 400
)

// checkNumbers adds a "number" problem for each numeral in v that is out of
// bounds.
func checkNumbers(v any, path []string, out *ValidationError) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			checkNumbers(e, append(path[:len(path):len(path)], k), out)
		}
	case []any:
		for i, e := range v {
			checkNumbers(e, append(path[:len(path):len(path)], strconv.Itoa(i)), out)
		}
	case json.Number:
		if !numberInRange(string(v)) {
			out.Problems = append(out.Problems, Problem{
				Path:    pointer(path),
				Keyword: "number",
				Message: fmt.Sprintf("number %s is out of range", abbreviate(string(v))),
			})
		}
	}
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:20] + "…"
	}
	return s
}

func numberInRange(s string) bool {
	if len(s) > maxNumberLen {
		return false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > maxNumberExp || e < -maxNumberExp {
			return false
		}
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// pointer formats tokens as a JSON Pointer (RFC 6901).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// Decode validates doc and decodes it into a Session whose telemetry unit
// codes are normalized to UnitsPhysical, whichever spelling the sender used.
func (v *Validator) Decode(doc []byte) (*Session, error) {
	if err := v.Validate(doc); err != nil {
		return nil, err
	}
	var s Session
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode EvChargingSession: %w", err)
	}
	if err := s.SetUnitStyle(UnitsPhysical); err != nil {
		return nil, fmt.Errorf("decode EvChargingSession: %w", err)
	}
	if len(s.ChargingTelemetry) == 0 {
		s.ChargingTelemetry = nil // [] and absent mean the same
	}
	return &s, nil
}

// Marshal encodes s with telemetry unit codes in style, without changing s.
// Empty JSON-LD keys are filled with ContextURL and Type. It does not
// validate; run Validate on the result where the input is not trusted.
func Marshal(s *Session, style UnitStyle) ([]byte, error) {
	if _, err := UnitCodeFor(MetricEnergy, style); err != nil {
		return nil, fmt.Errorf("encode EvChargingSession: %w", err)
	}
	out := *s
	if out.Context == "" {
		out.Context = ContextURL
	}
	if out.Type == "" {
		out.Type = Type
	}
	if len(s.ChargingTelemetry) > 0 {
		out.ChargingTelemetry = make([]TelemetryInterval, len(s.ChargingTelemetry))
		for i, ti := range s.ChargingTelemetry {
			out.ChargingTelemetry[i] = TelemetryInterval{EventTime: ti.EventTime, Metrics: append([]Metric(nil), ti.Metrics...)}
		}
		if err := out.SetUnitStyle(style); err != nil {
			return nil, fmt.Errorf("encode EvChargingSession: %w", err)
		}
	}
	b, err := json.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode EvChargingSession: %w", err)
	}
	return b, nil
}
