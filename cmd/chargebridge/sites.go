package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chargebridge/chargebridge/internal/loadmgmt"
)

// sitesCommands manage sites through the running server, whose load
// manager applies a change at once.
func sitesCommands() map[string]command {
	return map[string]command{
		"set":    {summary: "create or change a site: its grid limit and chargers (through the running server)", run: runSitesSet},
		"list":   {summary: "list sites with their limit, measured power and connectors", run: runSitesList},
		"show":   {summary: "show a site's allocation per connector", run: runSitesShow},
		"delete": {summary: "delete a site; its chargers are no longer managed", run: runSitesDelete},
	}
}

const sitesNote = "Sites are kept by the running server (--server), which applies a change at once."

func runSitesSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sites set", "ID --max-kw KW --chargers CP-1,CP-2 [flags]",
		"Creates or changes a site (flags left out keep their value): chargers behind one grid connection whose connectors' charging limits never add up to more than --max-kw. "+
			"A charger belongs to at most one site. "+sitesNote, stdout)
	name := f.String("name", "", "the site's name (default: the id)")
	maxKW := f.Float64("max-kw", 0, "the grid connection's maximum import power, kW (required for a new site)")
	maxA := f.Float64("max-a", 0, "the connection's maximum current per phase, A (0: none)")
	chargers := f.String("chargers", "", "the site's chargers, comma-separated")
	chargerMax := f.String("charger-max-kw", "", "per-charger maximum per connector, kW: CP-1=11,CP-2=22 (default 22)")
	priority := f.String("priority", "", "priorities (higher first, paused last): CP-1=1,CP-2/1=2,tag:FLEET-7=3")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge sites set ID --max-kw KW --chargers CP-1,CP-2 [flags]")
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	// Start from the stored site, so a flag left out keeps its value.
	c := client()
	var cur loadmgmt.Site
	err = c.do(ctx, "GET", "/api/v1/sites/"+url.PathEscape(pos[0]), nil, &cur)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		cur = loadmgmt.Site{Name: pos[0]}
		if !set["max-kw"] {
			return usagef("sites set: a new site needs its grid limit: --max-kw KW")
		}
	case err != nil:
		return err
	}
	if set["name"] {
		cur.Name = *name
	}
	if set["max-kw"] {
		cur.MaxPowerKW = *maxKW
	}
	if set["max-a"] {
		cur.MaxCurrentA = *maxA
	}
	if set["chargers"] {
		cur.Chargers = splitList(*chargers)
	}
	if set["charger-max-kw"] {
		cur.ChargerMaxKW = map[string]float64{}
		for k, v := range splitPairs(*chargerMax) {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return usagef("--charger-max-kw: %s=%s is not a number of kW (CP-1=11,CP-2=22)", k, v)
			}
			cur.ChargerMaxKW[k] = n
		}
	}
	if set["priority"] {
		cur.Priorities = loadmgmt.Priorities{Chargers: map[string]int{}, IDTags: map[string]int{}}
		for k, v := range splitPairs(*priority) {
			n, err := strconv.Atoi(v)
			if err != nil {
				return usagef("--priority: %s=%s is not a whole number (CP-1=1,tag:FLEET-7=3)", k, v)
			}
			if tag, ok := strings.CutPrefix(k, "tag:"); ok {
				cur.Priorities.IDTags[tag] = n
			} else {
				cur.Priorities.Chargers[k] = n
			}
		}
	}
	body := map[string]any{"name": cur.Name, "max_power_kw": cur.MaxPowerKW, "max_current_a": cur.MaxCurrentA,
		"chargers": cur.Chargers, "charger_max_kw": cur.ChargerMaxKW, "priorities": cur.Priorities}
	if cur.Chargers == nil {
		body["chargers"] = []string{}
	}
	var s loadmgmt.Site
	if err := c.do(ctx, "PUT", "/api/v1/sites/"+url.PathEscape(pos[0]), body, &s); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "site %s: %g kW over %d chargers (%s)\n", s.ID, s.MaxPowerKW, len(s.Chargers), strings.Join(s.Chargers, ", "))
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitPairs reads K=V,K=V.
func splitPairs(s string) map[string]string {
	out := map[string]string{}
	for _, p := range splitList(s) {
		k, v, _ := strings.Cut(p, "=")
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func runSitesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sites list", "[flags]", "Lists the sites with their limit, measured power, allocation and paused connectors. "+sitesNote, stdout)
	asJSON := f.Bool("json", false, "print JSON (for scripts) instead of a table")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: chargebridge sites list [flags]")
	}
	var page struct {
		Items []loadmgmt.SiteStatus `json:"items"`
	}
	if err := client().do(ctx, "GET", "/api/v1/sites", nil, &page); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, page.Items)
	}
	if len(page.Items) == 0 {
		fmt.Fprintln(stdout, "no sites (add one with chargebridge sites set ID --max-kw KW --chargers CP-1,CP-2)")
		return nil
	}
	t := table(stdout, "ID", "NAME", "LIMIT kW", "MEASURED kW", "ALLOCATED kW", "CHARGING", "PAUSED", "CHARGERS")
	for _, s := range page.Items {
		t.row(s.ID, orDash(s.Name), kwText(s.LimitKW), kwText(s.MeasuredKW), kwText(s.AllocatedKW+s.ReservedKW),
			strconv.Itoa(len(s.Connectors)-s.Paused), strconv.Itoa(s.Paused), strings.Join(s.Chargers, ","))
	}
	return t.flush()
}

func kwText(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func runSitesShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sites show", "ID [flags]", "Shows a site and each connector's allocation, limit in force and measured draw. "+sitesNote, stdout)
	asJSON := f.Bool("json", false, "print JSON (for scripts) instead of text")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge sites show ID [flags]")
	}
	var s loadmgmt.SiteStatus
	if err := client().do(ctx, "GET", "/api/v1/sites/"+url.PathEscape(pos[0]), nil, &s); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, s)
	}
	fmt.Fprintf(stdout, "site %s (%s): limit %s kW, measured %s kW, allocated %s kW, reserved %s kW, %d paused\nchargers: %s\n",
		s.ID, orDash(s.Name), kwText(s.LimitKW), kwText(s.MeasuredKW), kwText(s.AllocatedKW), kwText(s.ReservedKW), s.Paused, strings.Join(s.Chargers, ", "))
	if len(s.Connectors) == 0 {
		fmt.Fprintln(stdout, "no connector is charging")
		return nil
	}
	t := table(stdout, "CONNECTOR", "STATE", "ALLOCATED kW", "IN FORCE kW", "DRAW kW", "MAX kW", "PRIORITY", "REASON")
	opt := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return kwText(*v)
	}
	for _, c := range s.Connectors {
		t.row(fmt.Sprintf("%s/%d", c.ChargerID, c.ConnectorID), c.State, kwText(c.AllocatedKW), opt(c.LimitKW), opt(c.DrawKW),
			kwText(c.MaxKW), strconv.Itoa(c.Priority), orDash(c.Reason))
	}
	return t.flush()
}

func runSitesDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("sites delete", "ID [flags]", "Deletes a site; its chargers are no longer managed (the limits of their running transactions are lifted to their maximum). "+sitesNote, stdout)
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge sites delete ID [flags]")
	}
	if err := client().do(ctx, "DELETE", "/api/v1/sites/"+url.PathEscape(pos[0]), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "site %s deleted\n", pos[0])
	return nil
}
