package main

import (
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

func TestClusterCommand(t *testing.T) {
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.NodeID = "solo-1" }))
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"cluster"}, []string{"node solo-1 runs alone", "solo-1 (answered)", "NODE", "CHARGERS"}},
		{[]string{"cluster", "--json"}, []string{`"mode": "single"`, `"id": "solo-1"`}},
	} {
		out, err := runCLI(t, append(tt.args, "--server", s.URL())...)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v printed %q; want it to contain %q", tt.args, out, w)
			}
		}
	}
}
