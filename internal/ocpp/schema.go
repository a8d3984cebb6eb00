package ocpp

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Validator checks payloads against a version's official JSON schemas. Each
// schema is compiled once, when the Validator is made.
type Validator struct {
	schemas map[string]*jsonschema.Schema
}

// NewValidator compiles every *.json schema in fsys. A schema is found by its
// file name without the extension: "StartTransaction" for a 1.6 request,
// "StartTransactionResponse" for its response.
//
// The date-time format is checked leniently: a timestamp without a time zone
// passes the schema, so the handler can apply its per-charger tolerance and
// log what it tolerated. Everything else the schemas say is enforced.
func NewValidator(fsys fs.FS) (*Validator, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no *.json schemas found")
	}
	c := jsonschema.NewCompiler()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: lenientDateTime})
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		// The schemas' own ids are URNs; resources are addressed by file name.
		if m, ok := doc.(map[string]any); ok {
			delete(m, "id")
			delete(m, "$id")
		}
		if err := c.AddResource("file:///"+n, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
	}
	v := &Validator{schemas: make(map[string]*jsonschema.Schema, len(names))}
	for _, n := range names {
		s, err := c.Compile("file:///" + n)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", n, err)
		}
		v.schemas[strings.TrimSuffix(path.Base(n), ".json")] = s
	}
	return v, nil
}

// Has reports whether a schema of that name exists.
func (v *Validator) Has(name string) bool {
	_, ok := v.schemas[name]
	return ok
}

// Validate checks payload against the named schema. A violation comes back
// as the *Error the OCPP-J spec prescribes for its kind:
// FormationViolation for a payload that is not JSON or not the message's
// structure (wrong top-level type, unknown properties), OccurenceConstraintViolation
// for a missing required field, TypeConstraintViolation for a value of the
// wrong JSON type, PropertyConstraintViolation for a value out of its range
// (length, enum, minimum, format).
func (v *Validator) Validate(name string, payload []byte) *Error {
	s, ok := v.schemas[name]
	if !ok {
		return Errorf(NotImplemented, "no schema for %s", name)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return Errorf(FormationViolation, "payload is not valid JSON")
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return Errorf(FormationViolation, "%v", err)
	}
	leaf := firstLeaf(ve)
	return &Error{Code: codeFor(leaf), Description: describe(leaf)}
}

// firstLeaf walks down to the first concrete violation.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

func codeFor(e *jsonschema.ValidationError) ErrorCode {
	switch e.ErrorKind.(type) {
	case *kind.Required, *kind.MinItems, *kind.MaxItems, *kind.MinProperties, *kind.MaxProperties:
		return OccurenceConstraintViolation
	case *kind.Type:
		if len(e.InstanceLocation) == 0 {
			return FormationViolation
		}
		return TypeConstraintViolation
	case *kind.AdditionalProperties, *kind.FalseSchema:
		return FormationViolation
	default:
		return PropertyConstraintViolation
	}
}

func describe(e *jsonschema.ValidationError) string {
	loc := "/" + strings.Join(e.InstanceLocation, "/")
	return fmt.Sprintf("at %s: %s", loc, e.ErrorKind.LocalizedString(englishPrinter))
}

// lenientDateTime accepts RFC 3339 timestamps and the zone-less ones real
// chargers send; it rejects anything else that is not a timestamp.
func lenientDateTime(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if _, _, err := ParseTimestamp(s); err != nil {
		return err
	}
	return nil
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
