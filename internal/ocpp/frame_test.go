package ocpp

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Frame
		wantErr *FrameError
	}{
		{name: "call", in: `[2,"19223201","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]`,
			want: Frame{Type: Call, ID: "19223201", Action: "BootNotification", Payload: json.RawMessage(`{"chargePointVendor":"V","chargePointModel":"M"}`)}},
		{name: "call-result", in: `[3, "a1", {"status":"Accepted"}]`,
			want: Frame{Type: CallResult, ID: "a1", Payload: json.RawMessage(`{"status":"Accepted"}`)}},
		{name: "call-error", in: `[4,"a2","NotImplemented","no",{"x":1}]`,
			want: Frame{Type: CallError, ID: "a2", ErrorCode: NotImplemented, ErrorDescription: "no", ErrorDetails: json.RawMessage(`{"x":1}`)}},
		{name: "not-json-with-readable-id", in: `[2,"abc","Heartbeat",{]`,
			wantErr: &FrameError{ID: "abc", Code: FormationViolation}},
		{name: "not-json-at-all", in: `hello`, wantErr: &FrameError{Code: FormationViolation}},
		{name: "not-an-array", in: `{"a":1}`, wantErr: &FrameError{Code: FormationViolation}},
		{name: "too-short", in: `[2,"x"]`, wantErr: &FrameError{Code: ProtocolError}},
		{name: "call-with-three-elements", in: `[2,"x","Heartbeat"]`, wantErr: &FrameError{ID: "x", Code: ProtocolError}},
		{name: "unknown-type", in: `[7,"x",{}]`, wantErr: &FrameError{ID: "x", Code: MessageTypeNotSupported}},
		{name: "type-not-number", in: `["2","x","Heartbeat",{}]`, wantErr: &FrameError{Code: FormationViolation}},
		{name: "id-not-string", in: `[2,5,"Heartbeat",{}]`, wantErr: &FrameError{Code: FormationViolation}},
		{name: "id-too-long", in: `[2,"0123456789012345678901234567890123456","Heartbeat",{}]`,
			wantErr: &FrameError{ID: "0123456789012345678901234567890123456", Code: FormationViolation}},
		{name: "payload-not-object", in: `[2,"x","Heartbeat",[]]`, wantErr: &FrameError{ID: "x", Code: FormationViolation}},
		{name: "empty-action", in: `[2,"x","",{}]`, wantErr: &FrameError{ID: "x", Code: FormationViolation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFrame([]byte(tt.in))
			if tt.wantErr != nil {
				var fe *FrameError
				if !errors.As(err, &fe) {
					t.Fatalf("ParseFrame(%s) error = %v; want *FrameError", tt.in, err)
				}
				if fe.ID != tt.wantErr.ID || fe.Code != tt.wantErr.Code {
					t.Fatalf("ParseFrame(%s) = id %q code %s; want id %q code %s", tt.in, fe.ID, fe.Code, tt.wantErr.ID, tt.wantErr.Code)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFrame(%s): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("ParseFrame(%s) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestAppendRoundTrip(t *testing.T) {
	payload := []byte(`{"k":"v"}`)
	frames := [][]byte{
		AppendCall(nil, `id"with\quote`, "DataTransfer", payload),
		AppendCallResult(nil, "r-1", payload),
		AppendCallError(nil, "e-1", &Error{Code: PropertyConstraintViolation, Description: "bad <value>", Details: map[string]any{"field": "idTag"}}),
	}
	for _, b := range frames {
		if !json.Valid(b) {
			t.Fatalf("encoded frame is not JSON: %s", b)
		}
		f, err := ParseFrame(b)
		if err != nil {
			t.Fatalf("ParseFrame(%s): %v", b, err)
		}
		if f.Type == CallError && (f.ErrorCode != PropertyConstraintViolation || f.ErrorDescription != "bad <value>") {
			t.Fatalf("got %+v; want the error back", f)
		}
		if f.Type == Call && f.ID != `id"with\quote` {
			t.Fatalf("got id %q; want it back unchanged", f.ID)
		}
	}
}

// encodeFrame writes f back as a frame.
func encodeFrame(f Frame) []byte {
	switch f.Type {
	case Call:
		return AppendCall(nil, f.ID, f.Action, f.Payload)
	case CallResult:
		return AppendCallResult(nil, f.ID, f.Payload)
	default:
		var details map[string]any
		_ = json.Unmarshal(f.ErrorDetails, &details)
		return AppendCallError(nil, f.ID, &Error{Code: f.ErrorCode, Description: f.ErrorDescription, Details: details})
	}
}

// FuzzFrame checks that no input panics the decoder and that a decoded
// frame encodes to one that decodes to the same frame.
func FuzzFrame(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/frames/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[2,"1","Heartbeat",{}]`))
	f.Add([]byte(`[4,"1","GenericError","",{}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			// The server refuses a text message that is not UTF-8 before
			// parsing it (Conn.frame), and encoding writes invalid UTF-8
			// in a string as U+FFFD.
			return
		}
		fr, err := ParseFrame(data)
		if err != nil {
			return
		}
		enc := encodeFrame(fr)
		fr2, err := ParseFrame(enc)
		if err != nil {
			t.Fatalf("re-encoded frame %s does not decode: %v", enc, err)
		}
		if fr.Type != fr2.Type || fr.ID != fr2.ID || fr.Action != fr2.Action || fr.ErrorCode != fr2.ErrorCode || fr.ErrorDescription != fr2.ErrorDescription {
			t.Fatalf("round trip changed the frame: %+v -> %+v", fr, fr2)
		}
		if fr.Type != CallError && !bytes.Equal(compact(t, fr.Payload), compact(t, fr2.Payload)) {
			t.Fatalf("round trip changed the payload: %s -> %s", fr.Payload, fr2.Payload)
		}
	})
}

func compact(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compact %s: %v", b, err)
	}
	return out.Bytes()
}

func BenchmarkParseFrame(b *testing.B) {
	msg := []byte(`[2,"4f6c1b2a","MeterValues",{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"12345","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"},{"value":"16.0","measurand":"Current.Import","unit":"A"},{"value":"230","measurand":"Voltage","unit":"V"},{"value":"55","measurand":"SoC","unit":"Percent"}]}]}]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFrame(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// parseFrameStdlib is the straightforward decoder on encoding/json that
// ParseFrame replaced for speed; it stays as the oracle for FuzzFrameOracle.
func parseFrameStdlib(data []byte) (Frame, error) {
	var f Frame
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		var probe any
		if json.Unmarshal(data, &probe) == nil {
			return f, &FrameError{Code: FormationViolation, Reason: "not a JSON array"}
		}
		fe := &FrameError{Code: FormationViolation}
		if m := callIDPattern.FindSubmatch(data); m != nil {
			fe.ID = string(m[1])
		}
		return f, fe
	}
	if len(elems) < 3 {
		return f, &FrameError{Code: ProtocolError}
	}
	var typ int
	if err := json.Unmarshal(elems[0], &typ); err != nil {
		return f, &FrameError{Code: FormationViolation}
	}
	f.Type = MessageType(typ)
	if err := json.Unmarshal(elems[1], &f.ID); err != nil {
		return f, &FrameError{Code: FormationViolation}
	}
	if f.ID == "" || len(f.ID) > MaxMessageIDLength {
		return f, &FrameError{ID: f.ID, Code: FormationViolation}
	}
	want := map[MessageType]int{Call: 4, CallResult: 3, CallError: 5}[f.Type]
	if want == 0 {
		return f, &FrameError{ID: f.ID, Code: MessageTypeNotSupported}
	}
	if len(elems) != want {
		return f, &FrameError{ID: f.ID, Code: ProtocolError}
	}
	bad := &FrameError{ID: f.ID, Code: FormationViolation}
	switch f.Type {
	case Call:
		if json.Unmarshal(elems[2], &f.Action) != nil || f.Action == "" {
			return f, bad
		}
		f.Payload = elems[3]
		if !isObject(f.Payload) {
			return f, bad
		}
	case CallResult:
		f.Payload = elems[2]
		if !isObject(f.Payload) {
			return f, bad
		}
	case CallError:
		var code string
		if json.Unmarshal(elems[2], &code) != nil || json.Unmarshal(elems[3], &f.ErrorDescription) != nil {
			return f, bad
		}
		f.ErrorCode = CanonicalCode(ErrorCode(code))
		f.ErrorDetails = elems[4]
		if !isObject(f.ErrorDetails) {
			return f, bad
		}
	}
	return f, nil
}

// FuzzFrameOracle checks ParseFrame against the encoding/json decoder: the
// same frames, the same error codes and readable ids.
func FuzzFrameOracle(f *testing.F) {
	f.Add([]byte(`[2,"1","Heartbeat",{}]`))
	f.Add([]byte(`[3,"1",{"a":[1,2]}]`))
	f.Add([]byte(`[4,"1","GenericError","x",{}]`))
	f.Add([]byte(`[2,"1","Heartbeat",{]`))
	f.Add([]byte(`[2.0,"1","Heartbeat",{}]`))
	f.Add([]byte(` [ 2 , "\u0041" , "A" , { } ] `))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return // encoding/json rewrites invalid UTF-8 in strings; ids are compared as text
		}
		got, gerr := ParseFrame(data)
		want, werr := parseFrameStdlib(data)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: ParseFrame err %v; encoding/json err %v", data, gerr, werr)
		}
		if gerr != nil {
			g, w := gerr.(*FrameError), werr.(*FrameError)
			if g.Code != w.Code || g.ID != w.ID {
				t.Fatalf("%q: ParseFrame %s/%q; encoding/json %s/%q", data, g.Code, g.ID, w.Code, w.ID)
			}
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: frames differ (-stdlib +ours):\n%s", data, diff)
		}
	})
}
