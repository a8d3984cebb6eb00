package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// runChargerTolerate shows or switches a charger's tolerance (GET/PUT
// /api/v1/chargers/{id}/tolerance) and prints its tolerance log
// (/violations).
func runChargerTolerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("chargers tolerate", "ID [--on | --off] [flags]",
		"Shows whether a charger's messages that the schema refuses only for a known quirk (an over-long string, an unknown enum value) "+
			"are admitted and recorded as tolerated (on) or refused and recorded (off, the default), and what its tolerance log holds; "+
			"--on or --off switches it. It asks the running server (--server).", stdout)
	on := f.Bool("on", false, "tolerate the charger's known quirks")
	off := f.Bool("off", false, "refuse them (strict, the default)")
	asJSON := f.Bool("json", false, "print JSON")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (*on && *off) {
		return usagef("usage: chargebridge chargers tolerate ID [--on | --off] [flags]")
	}
	c := client()
	id := pos[0]
	path := "/api/v1/chargers/" + id + "/tolerance"
	var t charging.Tolerance
	if *on || *off {
		err = c.do(ctx, http.MethodPut, path, map[string]bool{"tolerate": *on}, &t)
	} else {
		err = c.do(ctx, http.MethodGet, path, nil, &t)
	}
	if err != nil {
		return fmt.Errorf("chargers tolerate %s: %w", id, err)
	}
	var log struct {
		Items []charging.ViolationRecord `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/chargers/"+id+"/violations", nil, &log); err != nil {
		return fmt.Errorf("chargers tolerate %s: %w", id, err)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"charger_id": id, "tolerate": t.Tolerate, "violations": log.Items})
	}
	state := "off: known quirks are refused and recorded"
	if t.Tolerate {
		state = "on: known quirks are admitted and recorded as tolerated"
	}
	fmt.Fprintf(stdout, "charger %s: tolerance %s\n", id, state)
	if len(log.Items) == 0 {
		fmt.Fprintln(stdout, "its tolerance log is empty")
		return nil
	}
	tb := table(stdout, "KIND", "OUTCOME", "COUNT", "LAST", "LAST EXAMPLE")
	for _, r := range log.Items {
		tb.row(r.Kind, r.Outcome, fmt.Sprint(r.Count), r.LastAt.UTC().Format("2006-01-02 15:04:05"), r.LastExample)
	}
	return tb.flush()
}
