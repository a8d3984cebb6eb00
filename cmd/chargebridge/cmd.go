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
	"os"
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
			conn := fs.Int("connector", 1, "connector")
			return func() (any, error) { return map[string]any{"connectorId": *conn}, nil }
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

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	specs := commandSpecs()
	usage := func() error {
		var b strings.Builder
		b.WriteString("usage: chargebridge cmd CHARGER COMMAND [flags] [--server URL] [--api-token T]\n\ncommands:\n")
		for _, name := range sortedKeys(specs) {
			fmt.Fprintf(&b, "  %-19s %s %s\n", name, specs[name].action, specs[name].help)
		}
		b.WriteString("  raw ACTION JSON     any OCPP 1.6 central-system message (also the security extension's), e.g.\n")
		b.WriteString("                      raw SendLocalList '{\"listVersion\":2,\"updateType\":\"Full\",\"localAuthorizationList\":[]}'\n")
		return errors.New(b.String())
	}
	if len(args) < 2 {
		return usage()
	}
	charger, name := args[0], args[1]
	fs := flag.NewFlagSet("cmd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "chargebridge server URL (default http://<CHARGEBRIDGE_HTTP or 127.0.0.1:8080>)")
	token := fs.String("api-token", os.Getenv("CHARGEBRIDGE_API_TOKEN"), "operator API token (default $CHARGEBRIDGE_API_TOKEN)")
	var action string
	var build func() (any, error)
	if name == "raw" {
		pos, err := parseInterspersed(fs, args[2:])
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return errors.New("usage: chargebridge cmd CHARGER raw ACTION JSON")
		}
		action = pos[0]
		build = func() (any, error) {
			if !json.Valid([]byte(pos[1])) {
				return nil, fmt.Errorf("payload %q is not JSON", pos[1])
			}
			return json.RawMessage(pos[1]), nil
		}
	} else {
		spec, ok := specs[name]
		if !ok {
			return usage()
		}
		action = spec.action
		build = spec.build(fs)
		if _, err := parseInterspersed(fs, args[2:]); err != nil {
			return err
		}
	}
	payload, err := build()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	body, _ := json.Marshal(payload)
	base := *server
	if base == "" {
		addr := os.Getenv("CHARGEBRIDGE_HTTP")
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		base = "http://" + addr
	}
	url := strings.TrimRight(base, "/") + "/api/v1/chargers/" + charger + "/commands/" + action
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Requested-By", "cli")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("%w (is the server running at %s? set --server)", err, base)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s\n%s", action, resp.Status, charger, out)
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
