// Package ocpp201 is OCPP 2.0.1 (OCPP-J, subprotocol "ocpp2.0.1"): the
// official schemas (embedded from schemas/, © Open Charge Alliance) compiled
// into the same validator as 1.6, and the messages of 2.0.1.
package ocpp201

import (
	"embed"
	"io/fs"
	"strings"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// Subprotocol is the WebSocket subprotocol of OCPP 2.0.1.
const Subprotocol = ocpp.Subprotocol201

//go:embed schemas/*.json
var schemaFiles embed.FS

// Schemas returns the embedded official OCPP 2.0.1 JSON schemas, named as
// the OCA publishes them: "<Action>Request.json", "<Action>Response.json".
func Schemas() fs.FS {
	sub, err := fs.Sub(schemaFiles, "schemas")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// SchemaName is the name a schema file is known by in the validator: a
// request by its action ("TransactionEvent"), a response by its action and
// "Response", the convention 1.6 uses, so callers validate action and
// action+"Response" whatever the version.
func SchemaName(file string) string {
	base := strings.TrimSuffix(file, ".json")
	if a, ok := strings.CutSuffix(base, "Request"); ok {
		return a
	}
	return base
}

// NewValidator compiles the OCPP 2.0.1 schemas.
func NewValidator() (*ocpp.Validator, error) {
	return ocpp.NewValidatorNamed(Schemas(), SchemaName)
}
