package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// cmdSpec is a friendly CLI form of one command: a protocol-neutral action
// of the core's command port (neutral set: POST
// /api/v1/chargers/{id}/actions/NAME, any protocol), or an OCPP 1.6
// central-system message (action set: the raw command endpoint).
type cmdSpec struct {
	action  string
	neutral string
	help    string
	build   func(fs *flag.FlagSet) func() (any, error)
}

// rawSpec is an OCPP 1.6 message.
func rawSpec(action, help string, build func(fs *flag.FlagSet) func() (any, error)) cmdSpec {
	return cmdSpec{action: action, help: help, build: build}
}

// neutralSpec is a command of the core's command port.
func neutralSpec(name, help string, build func(fs *flag.FlagSet) func() (any, error)) cmdSpec {
	return cmdSpec{neutral: name, help: help, build: build}
}

// sessionStop is remote-stop's body: it goes to /api/v1/sessions/{id}/stop.
type sessionStop struct{ id string }

func intFlag(fs *flag.FlagSet, name string, def int, usage string) *int {
	return fs.Int(name, def, usage)
}

func commandSpecs() map[string]cmdSpec {
	return map[string]cmdSpec{
		"remote-start": neutralSpec("start", "--tag TAG [--connector N]", func(fs *flag.FlagSet) func() (any, error) {
			tag := fs.String("tag", "", "id tag to start with (required)")
			conn := fs.Int("connector", 0, "connector (0: the charger chooses)")
			return func() (any, error) {
				if *tag == "" {
					return nil, errors.New("--tag is required")
				}
				return map[string]any{"id_tag": *tag, "connector_id": *conn}, nil
			}
		}),
		"remote-stop": neutralSpec("stop", "--session ID", func(fs *flag.FlagSet) func() (any, error) {
			id := fs.String("session", "", "the session to stop (required; chargebridge lists them at /api/v1/sessions)")
			return func() (any, error) {
				if *id == "" {
					return nil, errors.New("--session ID is required")
				}
				return sessionStop{*id}, nil
			}
		}),
		"reset": neutralSpec("reset", "[--hard]", func(fs *flag.FlagSet) func() (any, error) {
			hard := fs.Bool("hard", false, "hard reset (default soft)")
			return func() (any, error) { return map[string]any{"hard": *hard}, nil }
		}),
		"unlock": neutralSpec("unlock", "--connector N [--evse-connector M]", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 0, "connector to unlock (required; 1 is the first): the EVSE, for OCPP 2.0.1")
			evseConn := fs.Int("evse-connector", 0, "OCPP 2.0.1: the connector within the EVSE (default 1)")
			return func() (any, error) {
				if *conn < 1 {
					return nil, errors.New("--connector N is required (1 is the first connector)")
				}
				body := map[string]any{"connector_id": *conn}
				if *evseConn > 0 {
					body["evse_connector_id"] = *evseConn
				}
				return body, nil
			}
		}),
		"availability": neutralSpec("change-availability", "--connector N (--inoperative | --operative)", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 0, "connector (0: the whole charger)")
			inop := fs.Bool("inoperative", false, "make it Inoperative")
			op := fs.Bool("operative", false, "make it Operative")
			return func() (any, error) {
				if *inop == *op {
					return nil, errors.New("give exactly one of --inoperative and --operative")
				}
				return map[string]any{"connector_id": *conn, "operative": *op}, nil
			}
		}),
		"limit": neutralSpec("set-charging-limit", "--connector N --limit X --unit W|A [--default] [--for 1h]", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 0, "connector (0 with --default: every connector)")
			limit := fs.Float64("limit", -1, "the limit, in --unit (required; 0 pauses charging)")
			unit := fs.String("unit", "W", "W or A")
			def := fs.Bool("default", false, "limit sessions that start later (default: the running session)")
			dur := fs.Duration("for", 0, "how long the limit holds (default: until replaced)")
			return func() (any, error) {
				if *limit < 0 {
					return nil, errors.New("--limit is required (0 or more)")
				}
				purpose := "transaction"
				if *def {
					purpose = "default"
				}
				p := map[string]any{"connector_id": *conn, "limit": *limit, "unit": *unit, "purpose": purpose}
				if *dur > 0 {
					p["until"] = time.Now().Add(*dur).UTC().Format(time.RFC3339)
				}
				return p, nil
			}
		}),
		"get-config": rawSpec("GetConfiguration", "[--key K ...]", func(fs *flag.FlagSet) func() (any, error) {
			var keys multiFlag
			fs.Var(&keys, "key", "configuration key (repeatable; none: all)")
			return func() (any, error) {
				p := map[string]any{}
				if len(keys) > 0 {
					p["key"] = []string(keys)
				}
				return p, nil
			}
		}),
		"change-config": rawSpec("ChangeConfiguration", "--key K --value V", func(fs *flag.FlagSet) func() (any, error) {
			key := fs.String("key", "", "configuration key")
			val := fs.String("value", "", "new value")
			return func() (any, error) { return map[string]any{"key": *key, "value": *val}, nil }
		}),
		"clear-cache": rawSpec("ClearCache", "", func(fs *flag.FlagSet) func() (any, error) {
			return func() (any, error) { return map[string]any{}, nil }
		}),
		"trigger": rawSpec("TriggerMessage", "--message StatusNotification [--connector N]", func(fs *flag.FlagSet) func() (any, error) {
			msg := fs.String("message", "", "BootNotification, DiagnosticsStatusNotification, FirmwareStatusNotification, Heartbeat, MeterValues or StatusNotification")
			conn := fs.Int("connector", 0, "connector")
			return func() (any, error) {
				p := map[string]any{"requestedMessage": *msg}
				if *conn > 0 {
					p["connectorId"] = *conn
				}
				return p, nil
			}
		}),
		"reserve": neutralSpec("reserve", "--connector N --tag TAG --reservation ID [--for 15m]", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 1, "connector (0: any)")
			tag := fs.String("tag", "", "id tag")
			rid := fs.Int64("reservation", 0, "reservation id (required)")
			dur := fs.Duration("for", 15*time.Minute, "how long to hold the connector")
			return func() (any, error) {
				if *rid == 0 || *tag == "" {
					return nil, errors.New("--reservation and --tag are required")
				}
				return map[string]any{"connector_id": *conn, "id_tag": *tag, "reservation_id": *rid,
					"expires_at": time.Now().Add(*dur).UTC().Format(time.RFC3339)}, nil
			}
		}),
		"cancel-reservation": neutralSpec("cancel-reservation", "--reservation ID", func(fs *flag.FlagSet) func() (any, error) {
			rid := fs.Int64("reservation", 0, "reservation id")
			return func() (any, error) { return map[string]any{"reservation_id": *rid}, nil }
		}),
		"data-transfer": rawSpec("DataTransfer", "--vendor V [--message-id M] [--data D]", func(fs *flag.FlagSet) func() (any, error) {
			vendor := fs.String("vendor", "", "vendor id")
			mid := fs.String("message-id", "", "message id")
			data := fs.String("data", "", "data")
			return func() (any, error) {
				p := map[string]any{"vendorId": *vendor}
				if *mid != "" {
					p["messageId"] = *mid
				}
				if *data != "" {
					p["data"] = *data
				}
				return p, nil
			}
		}),
		"local-list-version": rawSpec("GetLocalListVersion", "", func(fs *flag.FlagSet) func() (any, error) {
			return func() (any, error) { return map[string]any{}, nil }
		}),
		"composite-schedule": rawSpec("GetCompositeSchedule", "--connector N --duration 3600 [--unit A|W]", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 0, "connector")
			d := fs.Int("duration", 3600, "seconds")
			unit := fs.String("unit", "", "A or W")
			return func() (any, error) {
				p := map[string]any{"connectorId": *conn, "duration": *d}
				if *unit != "" {
					p["chargingRateUnit"] = *unit
				}
				return p, nil
			}
		}),
		"get-diagnostics": rawSpec("GetDiagnostics", "--location URL", func(fs *flag.FlagSet) func() (any, error) {
			loc := fs.String("location", "", "upload URL")
			return func() (any, error) { return map[string]any{"location": *loc}, nil }
		}),
		"update-firmware": rawSpec("UpdateFirmware", "--location URL [--at RFC3339]", func(fs *flag.FlagSet) func() (any, error) {
			loc := fs.String("location", "", "firmware URL")
			at := fs.String("at", "", "when to retrieve it (default now)")
			return func() (any, error) {
				when := *at
				if when == "" {
					when = time.Now().UTC().Format(time.RFC3339)
				}
				return map[string]any{"location": *loc, "retrieveDate": when}, nil
			}
		}),
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// cmdUsage is cmd's help: its commands and what each sends.
func cmdUsage(specs map[string]cmdSpec) string {
	var b strings.Builder
	b.WriteString("usage: chargebridge cmd CHARGER COMMAND [flags] [--server URL] [--api-token TOKEN]\n\n")
	b.WriteString("Sends a command to a connected charger through the running server's operator API and prints the\n")
	b.WriteString("charger's answer as JSON. A server started with --api-token wants the same token: pass --api-token or set\n")
	b.WriteString("CHARGEBRIDGE_API_TOKEN.\n\ncommands (any protocol; the server picks the charger's own message):\n")
	for _, name := range sortedKeys(specs) {
		if sp := specs[name]; sp.neutral != "" {
			fmt.Fprintln(&b, strings.TrimRight(fmt.Sprintf("  %-19s %s", name, sp.help), " "))
		}
	}
	b.WriteString("\nOCPP 1.6 messages:\n")
	for _, name := range sortedKeys(specs) {
		if sp := specs[name]; sp.neutral == "" {
			fmt.Fprintln(&b, strings.TrimRight(fmt.Sprintf("  %-19s %s %s", name, sp.action, sp.help), " "))
		}
	}
	b.WriteString("  raw ACTION JSON     any OCPP 1.6 central-system message (also the security extension's), e.g.\n")
	b.WriteString("                      raw SendLocalList '{\"listVersion\":2,\"updateType\":\"Full\",\"localAuthorizationList\":[]}'\n")
	b.WriteString("\nRun `chargebridge cmd CHARGER COMMAND -h` for a command's flags.\n")
	return b.String()
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	specs := commandSpecs()
	for i, a := range args {
		if i < 2 && isHelp(a) {
			fmt.Fprint(stdout, cmdUsage(specs))
			return flag.ErrHelp
		}
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, cmdUsage(specs))
		return usagef("cmd: give a charger and a command, e.g. chargebridge cmd CP-1 reset")
	}
	charger, name := args[0], args[1]
	var f *flags
	var action string
	var build func() (any, error)
	if name == "raw" {
		f = newFlags("cmd CHARGER raw", "ACTION JSON [flags]", "Sends any OCPP 1.6 central-system message with the payload given as JSON.", stdout)
	} else {
		spec, ok := specs[name]
		if !ok {
			return usagef("cmd: unknown command %q; use %s or raw (chargebridge cmd -h)", name, strings.Join(sortedKeys(specs), ", "))
		}
		what := spec.action
		if spec.neutral != "" {
			what = "the " + spec.neutral + " command (in the charger's own protocol)"
		}
		f = newFlags("cmd CHARGER "+name, spec.help+" [flags]", "Sends "+what+" to the charger and prints its answer.", stdout)
		action = spec.action
		if spec.neutral != "" {
			action = name
		}
		build = spec.build(f.FlagSet)
	}
	client := apiFlags(f)
	pos, err := f.parse(args[2:])
	if err != nil {
		return err
	}
	if name == "raw" {
		if len(pos) != 2 {
			return usagef("usage: chargebridge cmd CHARGER raw ACTION JSON")
		}
		action = pos[0]
		if !json.Valid([]byte(pos[1])) {
			return usagef("cmd raw: payload %q is not JSON", pos[1])
		}
		build = func() (any, error) { return json.RawMessage(pos[1]), nil }
	} else if len(pos) != 0 {
		return usagef("cmd %s: unexpected argument %q (chargebridge cmd CHARGER %s -h lists the flags)", name, pos[0], name)
	}
	payload, err := build()
	if err != nil {
		return usagef("cmd %s: %v", name, err)
	}
	path := "/api/v1/chargers/" + url.PathEscape(charger) + "/commands/" + action
	if sp, ok := specs[name]; ok && sp.neutral != "" {
		path = "/api/v1/chargers/" + url.PathEscape(charger) + "/actions/" + sp.neutral
		if st, ok := payload.(sessionStop); ok {
			path, payload = "/api/v1/sessions/"+url.PathEscape(st.id)+"/stop", map[string]any{}
		}
	}
	var out json.RawMessage
	err = client().do(ctx, http.MethodPost, path, payload, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict && strings.Contains(ae.Msg, "not connected") {
		return fmt.Errorf("%s to %s: %s; it must be connected to this server to take commands (chargebridge chargers list)", action, charger, ae.Msg)
	}
	if err != nil {
		return fmt.Errorf("%s to %s: %w", action, charger, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
