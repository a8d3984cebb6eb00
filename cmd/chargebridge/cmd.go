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

// cmdSpec is a friendly CLI form of one OCPP central-system message.
type cmdSpec struct {
	action string
	help   string
	build  func(fs *flag.FlagSet) func() (any, error)
}

func intFlag(fs *flag.FlagSet, name string, def int, usage string) *int {
	return fs.Int(name, def, usage)
}

func commandSpecs() map[string]cmdSpec {
	return map[string]cmdSpec{
		"remote-start": {"RemoteStartTransaction", "--tag TAG [--connector N]", func(fs *flag.FlagSet) func() (any, error) {
			tag := fs.String("tag", "", "id tag to start with (required)")
			conn := fs.Int("connector", 0, "connector (0: the charger chooses)")
			return func() (any, error) {
				if *tag == "" {
					return nil, errors.New("--tag is required")
				}
				p := map[string]any{"idTag": *tag}
				if *conn > 0 {
					p["connectorId"] = *conn
				}
				return p, nil
			}
		}},
		"remote-stop": {"RemoteStopTransaction", "--tx ID", func(fs *flag.FlagSet) func() (any, error) {
			tx := fs.Int64("tx", 0, "transaction id (required)")
			return func() (any, error) {
				if *tx == 0 {
					return nil, errors.New("--tx is required")
				}
				return map[string]any{"transactionId": *tx}, nil
			}
		}},
		"reset": {"Reset", "[--hard]", func(fs *flag.FlagSet) func() (any, error) {
			hard := fs.Bool("hard", false, "hard reset (default soft)")
			return func() (any, error) {
				t := "Soft"
				if *hard {
					t = "Hard"
				}
				return map[string]any{"type": t}, nil
			}
		}},
		"unlock": {"UnlockConnector", "--connector N", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 0, "connector to unlock (required; 1 is the first)")
			return func() (any, error) {
				if *conn < 1 {
					return nil, errors.New("--connector N is required (1 is the first connector)")
				}
				return map[string]any{"connectorId": *conn}, nil
			}
		}},
		"availability": {"ChangeAvailability", "--connector N (--inoperative | --operative)", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 0, "connector (0: the whole charger)")
			inop := fs.Bool("inoperative", false, "make it Inoperative")
			op := fs.Bool("operative", false, "make it Operative")
			return func() (any, error) {
				if *inop == *op {
					return nil, errors.New("give exactly one of --inoperative and --operative")
				}
				t := "Operative"
				if *inop {
					t = "Inoperative"
				}
				return map[string]any{"connectorId": *conn, "type": t}, nil
			}
		}},
		"get-config": {"GetConfiguration", "[--key K ...]", func(fs *flag.FlagSet) func() (any, error) {
			var keys multiFlag
			fs.Var(&keys, "key", "configuration key (repeatable; none: all)")
			return func() (any, error) {
				p := map[string]any{}
				if len(keys) > 0 {
					p["key"] = []string(keys)
				}
				return p, nil
			}
		}},
		"change-config": {"ChangeConfiguration", "--key K --value V", func(fs *flag.FlagSet) func() (any, error) {
			key := fs.String("key", "", "configuration key")
			val := fs.String("value", "", "new value")
			return func() (any, error) { return map[string]any{"key": *key, "value": *val}, nil }
		}},
		"clear-cache": {"ClearCache", "", func(fs *flag.FlagSet) func() (any, error) {
			return func() (any, error) { return map[string]any{}, nil }
		}},
		"trigger": {"TriggerMessage", "--message StatusNotification [--connector N]", func(fs *flag.FlagSet) func() (any, error) {
			msg := fs.String("message", "", "BootNotification, DiagnosticsStatusNotification, FirmwareStatusNotification, Heartbeat, MeterValues or StatusNotification")
			conn := fs.Int("connector", 0, "connector")
			return func() (any, error) {
				p := map[string]any{"requestedMessage": *msg}
				if *conn > 0 {
					p["connectorId"] = *conn
				}
				return p, nil
			}
		}},
		"reserve": {"ReserveNow", "--connector N --tag TAG --reservation ID [--for 15m]", func(fs *flag.FlagSet) func() (any, error) {
			conn := fs.Int("connector", 1, "connector (0: any)")
			tag := fs.String("tag", "", "id tag")
			rid := fs.Int64("reservation", 0, "reservation id (required)")
			dur := fs.Duration("for", 15*time.Minute, "how long to hold the connector")
			return func() (any, error) {
				if *rid == 0 || *tag == "" {
					return nil, errors.New("--reservation and --tag are required")
				}
				return map[string]any{"connectorId": *conn, "idTag": *tag, "reservationId": *rid,
					"expiryDate": time.Now().Add(*dur).UTC().Format(time.RFC3339)}, nil
			}
		}},
		"cancel-reservation": {"CancelReservation", "--reservation ID", func(fs *flag.FlagSet) func() (any, error) {
			rid := fs.Int64("reservation", 0, "reservation id")
			return func() (any, error) { return map[string]any{"reservationId": *rid}, nil }
		}},
		"data-transfer": {"DataTransfer", "--vendor V [--message-id M] [--data D]", func(fs *flag.FlagSet) func() (any, error) {
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
		}},
		"local-list-version": {"GetLocalListVersion", "", func(fs *flag.FlagSet) func() (any, error) {
			return func() (any, error) { return map[string]any{}, nil }
		}},
		"composite-schedule": {"GetCompositeSchedule", "--connector N --duration 3600 [--unit A|W]", func(fs *flag.FlagSet) func() (any, error) {
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
		}},
		"get-diagnostics": {"GetDiagnostics", "--location URL", func(fs *flag.FlagSet) func() (any, error) {
			loc := fs.String("location", "", "upload URL")
			return func() (any, error) { return map[string]any{"location": *loc}, nil }
		}},
		"update-firmware": {"UpdateFirmware", "--location URL [--at RFC3339]", func(fs *flag.FlagSet) func() (any, error) {
			loc := fs.String("location", "", "firmware URL")
			at := fs.String("at", "", "when to retrieve it (default now)")
			return func() (any, error) {
				when := *at
				if when == "" {
					when = time.Now().UTC().Format(time.RFC3339)
				}
				return map[string]any{"location": *loc, "retrieveDate": when}, nil
			}
		}},
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// cmdUsage is cmd's help: its commands and what each sends.
func cmdUsage(specs map[string]cmdSpec) string {
	var b strings.Builder
	b.WriteString("usage: chargebridge cmd CHARGER COMMAND [flags] [--server URL] [--api-token TOKEN]\n\n")
	b.WriteString("Sends an OCPP command to a connected charger through the running server's operator API and prints the\n")
	b.WriteString("charger's answer as JSON. A server started with --api-token wants the same token: pass --api-token or set\n")
	b.WriteString("CHARGEBRIDGE_API_TOKEN.\n\ncommands:\n")
	for _, name := range sortedKeys(specs) {
		fmt.Fprintln(&b, strings.TrimRight(fmt.Sprintf("  %-19s %s %s", name, specs[name].action, specs[name].help), " "))
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
		f = newFlags("cmd CHARGER "+name, spec.help+" [flags]", "Sends "+spec.action+" to the charger and prints its answer.", stdout)
		action = spec.action
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
	var out json.RawMessage
	err = client().do(ctx, http.MethodPost, "/api/v1/chargers/"+url.PathEscape(charger)+"/commands/"+action, payload, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
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
