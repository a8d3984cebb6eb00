package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestTariffsPrice(t *testing.T) {
	examples := filepath.Join("..", "..", "..", "shared", "specs", "ocpi221", "examples")
	out, err := runCLI(t, "tariffs", "price", "--tariff", filepath.Join(examples, "tariff_put_example.json"),
		"--cdr", filepath.Join(examples, "cdr_example.json"), "--tz", "Europe/Amsterdam")
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			t.Skipf("OCPI examples not found beside the checkout (../shared/specs): %v", err)
		}
		t.Fatal(err)
	}
	var got struct {
		TotalCost struct {
			ExclVat float64 `json:"excl_vat"`
			InclVat float64 `json:"incl_vat"`
		} `json:"total_cost"`
		TotalEnergy float64 `json:"total_energy"`
		TotalTime   float64 `json:"total_time"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// The CDR example states these totals for its 2.2.1 tariff.
	if got.TotalCost.ExclVat != 4 || got.TotalCost.InclVat != 4.4 || got.TotalEnergy != 15.342 || got.TotalTime != 1.973 {
		t.Fatalf("totals = %+v; want 4.00 / 4.40, 15.342 kWh, 1.973 h", got)
	}
}

func TestRegistrationCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
	if out, err := runCLI(t, "chargers", "add", "CP-CLI", "--db", db); err != nil || !strings.Contains(out, "registered") {
		t.Fatalf("chargers add: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "chargers", "add", "CP-CLI", "--db", db); err == nil {
		t.Fatal("adding the same charger twice succeeded")
	}
	if _, err := runCLI(t, "chargers", "add", "bad id", "--db", db); err == nil {
		t.Fatal("a charger id with a space was accepted")
	}
	out, err := runCLI(t, "chargers", "list", "--json", "--db", db)
	if err != nil || !strings.Contains(out, `"id": "CP-CLI"`) {
		t.Fatalf("chargers list: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "tags", "add", "CARD-1", "--status", "Blocked", "--db", db); err != nil || !strings.Contains(out, "Blocked") {
		t.Fatalf("tags add: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "tags", "add", "CARD-2", "--status", "Maybe", "--db", db); err == nil {
		t.Fatal("an unknown tag status was accepted")
	}
	out, err = runCLI(t, "tags", "list", "--db", db)
	if err != nil || !strings.Contains(out, "CARD-1") {
		t.Fatalf("tags list: %v\n%s", err, out)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CHARGEBRIDGE_DB", "sqlite:"+filepath.Join(dir, "from-env.db"))
	if out, err := runCLI(t, "migrate"); err != nil || !strings.Contains(out, "from-env.db") {
		t.Fatalf("migrate with CHARGEBRIDGE_DB: %v\n%s", err, out)
	}
	flagDB := "sqlite:" + filepath.Join(dir, "from-flag.db")
	if out, err := runCLI(t, "migrate", "--db", flagDB); err != nil || !strings.Contains(out, "from-flag.db") {
		t.Fatalf("flag should win over the environment: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "migrate", "--log-level", "loud"); err == nil {
		t.Fatal("a bad --log-level was accepted")
	}
}

// Commands that only open the database listen nowhere, so the listener's
// rule (a login when --http is not loopback) must not stop them.
func TestStoreCommandsIgnoreListenerRules(t *testing.T) {
	t.Setenv("CHARGEBRIDGE_HTTP", "0.0.0.0:8080")
	t.Setenv("CHARGEBRIDGE_API_TOKEN", "")
	db := "sqlite:" + filepath.Join(t.TempDir(), "store-only.db")
	if out, err := runCLI(t, "chargers", "add", "CP-OPEN", "--db", db); err != nil {
		t.Fatalf("chargers add with a public --http and no token: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "migrate", "--db", db); err != nil {
		t.Fatalf("migrate with a public --http and no token: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "serve", "--db", db); err == nil || !strings.Contains(err.Error(), "api-token") {
		t.Fatalf("serve on a public address without a token: %v; want the login refusal", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, err := runCLI(t, "frobnicate"); err == nil {
		t.Fatal("unknown command succeeded")
	}
	out, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(out, "chargebridge ") {
		t.Fatalf("version: %v %q", err, out)
	}
}
