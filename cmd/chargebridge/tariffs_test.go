package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTariffCommands(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "cli.db")
	// The spec's PUT example has no last_updated: adding it sets one.
	example := filepath.Join("..", "..", "internal", "tariff", "testdata", "tariff_put_example.json")
	if out, err := runCLI(t, "tariffs", "add", example, "--db", db); err != nil || !strings.Contains(out, "tariff 12 added") {
		t.Fatalf("tariffs add: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "tariffs", "add", example, "--db", db); err != nil || !strings.Contains(out, "tariff 12 replaced") {
		t.Fatalf("tariffs add again: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"country_code":"DEU","party_id":"ALL","id":"B","currency":"euro","elements":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "tariffs", "add", bad, "--db", db)
	if err == nil || !strings.Contains(err.Error(), "country_code") || !strings.Contains(err.Error(), "currency") || !strings.Contains(err.Error(), "elements") {
		t.Fatalf("tariffs add (invalid) = %v; want every problem listed", err)
	}
	if _, err := runCLI(t, "chargers", "add", "CP-T", "--db", db); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		wantOut string // "" means an error is expected
	}{
		{[]string{"--charger", "CP-T", "--connector", "2", "--tariff", "12"}, "tariff 12 prices the sessions of charger CP-T connector 2"},
		{[]string{"--default", "--tariff", "12"}, "tariff 12 prices the sessions of the default"},
		{[]string{"--charger", "CP-T", "--tariff", "NOPE"}, ""},
		{[]string{"--charger", "CP-NONE", "--tariff", "12"}, ""},
		{[]string{"--charger", "CP-T", "--default", "--tariff", "12"}, ""},
		{[]string{"--charger", "CP-T"}, ""},
	} {
		out, err := runCLI(t, append(append([]string{"tariffs", "assign"}, tc.args...), "--db", db)...)
		switch {
		case tc.wantOut == "" && err == nil:
			t.Errorf("tariffs assign %v succeeded: %s", tc.args, out)
		case tc.wantOut != "" && (err != nil || !strings.Contains(out, tc.wantOut)):
			t.Errorf("tariffs assign %v = %v\n%s; want %q", tc.args, err, out, tc.wantOut)
		}
	}
	out, err := runCLI(t, "tariffs", "list", "--json", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Default     string `json:"default"`
		Assignments []struct {
			ChargerID   string `json:"charger_id"`
			ConnectorID int    `json:"connector_id"`
			TariffID    string `json:"tariff_id"`
		} `json:"assignments"`
		Tariffs []struct {
			ID          string `json:"id"`
			LastUpdated string `json:"last_updated"`
		} `json:"tariffs"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tariffs list is not JSON: %v\n%s", err, out)
	}
	if list.Default != "12" || len(list.Assignments) != 1 || list.Assignments[0].ChargerID != "CP-T" || list.Assignments[0].ConnectorID != 2 ||
		len(list.Tariffs) != 1 || list.Tariffs[0].ID != "12" || list.Tariffs[0].LastUpdated == "" {
		t.Fatalf("tariffs list = %+v", list)
	}
	if _, err := runCLI(t, "tariffs", "delete", "12", "--db", db); err == nil || !strings.Contains(err.Error(), "assigned") {
		t.Fatalf("deleting an assigned tariff = %v; want refused", err)
	}
	for _, args := range [][]string{{"--charger", "CP-T", "--connector", "2", "--clear"}, {"--default", "--clear"}} {
		if _, err := runCLI(t, append(append([]string{"tariffs", "assign"}, args...), "--db", db)...); err != nil {
			t.Fatalf("tariffs assign %v: %v", args, err)
		}
	}
	if out, err := runCLI(t, "tariffs", "delete", "12", "--db", db); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("tariffs delete: %v\n%s", err, out)
	}
}
