package main

import (
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

func TestSitesCommands(t *testing.T) {
	s := cbtest.Start(t)
	srv := []string{"--server", s.URL()}
	steps := []struct {
		args    []string
		wantErr string
		want    []string
	}{
		{[]string{"sites", "list"}, "", []string{"no sites"}},
		{[]string{"sites", "set", "HQ", "--max-kw", "22", "--chargers", "CP-1,CP-2", "--charger-max-kw", "CP-1=11", "--priority", "CP-2=1,tag:FLEET=2"}, "",
			[]string{"site HQ: 22 kW over 2 chargers (CP-1, CP-2)"}},
		{[]string{"sites", "set", "DEPOT", "--max-kw", "50", "--chargers", "CP-2"}, "CP-2 is in site HQ", nil},
		{[]string{"sites", "set", "DEPOT", "--max-kw", "50", "--charger-max-kw", "CP-9=x"}, "not a number", nil},
		{[]string{"sites", "set", "DEPOT"}, "--max-kw", nil},
		{[]string{"sites", "set", "HQ", "--max-kw", "30"}, "", []string{"site HQ: 30 kW over 2 chargers (CP-1, CP-2)"}},
		{[]string{"sites", "list"}, "", []string{"HQ", "30.0", "CP-1,CP-2"}},
		{[]string{"sites", "show", "HQ"}, "", []string{"site HQ (HQ): limit 30.0 kW", "no connector is charging"}},
		{[]string{"sites", "show", "HQ", "--json"}, "", []string{`"charger_max_kw": {`, `"FLEET": 2`}},
		{[]string{"sites", "show", "NOPE"}, "not found", nil},
		{[]string{"sites", "delete", "HQ"}, "", []string{"site HQ deleted"}},
		{[]string{"sites", "delete", "HQ"}, "not found", nil},
	}
	for _, st := range steps {
		out, err := runCLI(t, append(st.args, srv...)...)
		switch {
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Errorf("%v: err %v; want one containing %q", st.args, err, st.wantErr)
		case st.wantErr == "" && err != nil:
			t.Errorf("%v: %v", st.args, err)
		}
		for _, w := range st.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v printed %q; want it to contain %q", st.args, out, w)
			}
		}
	}
}

func TestChargersTolerate(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	srv := []string{"--server", s.URL()}
	c := s.MustDial("CP-TQ")
	defer c.Close()
	long := map[string]any{"chargePointVendor": "Schneider Electric", "chargePointModel": "EVlink", "chargePointSerialNumber": strings.Repeat("S", 30)}
	if code := cbtest.ErrorCode(c.Call("BootNotification", long)); code != "PropertyConstraintViolation" {
		t.Fatalf("strict: %q", code)
	}
	steps := []struct {
		args    []string
		wantErr string
		want    []string
	}{
		{[]string{"chargers", "tolerate", "CP-TQ"}, "", []string{"tolerance off", "string-too-long", "refused"}},
		{[]string{"chargers", "tolerate", "CP-TQ", "--on"}, "", []string{"tolerance on"}},
		{[]string{"chargers", "tolerate", "CP-TQ", "--on", "--off"}, "usage", nil},
		{[]string{"chargers", "tolerate", "NOPE", "--on"}, "not found", nil},
	}
	for _, st := range steps {
		out, err := runCLI(t, append(st.args, srv...)...)
		switch {
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Errorf("%v: err %v; want one containing %q", st.args, err, st.wantErr)
		case st.wantErr == "" && err != nil:
			t.Errorf("%v: %v", st.args, err)
		}
		for _, w := range st.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v printed %q; want it to contain %q", st.args, out, w)
			}
		}
	}
	var conf struct{ Status string }
	c.MustCall("BootNotification", long, &conf)
	if conf.Status != "Accepted" {
		t.Errorf("boot after 'chargers tolerate --on': %+v; want Accepted", conf)
	}
}
