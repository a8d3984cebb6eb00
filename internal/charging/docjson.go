package charging

import "encoding/json"

// marshalDoc and unmarshalDoc are the one encoding of documents the core
// stores (JSON, so operators can read them in the database too).
func marshalDoc(v any) ([]byte, error) { return json.Marshal(v) }

func unmarshalDoc(b []byte, v any) error { return json.Unmarshal(b, v) }
