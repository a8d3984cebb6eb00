package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// withService opens the configured store and runs fn on a core service
// over it: registration commands write to the database directly, so they
// work whether or not a server is running.
func withService(ctx context.Context, cfg *server.Config, stderr io.Writer, fn func(*charging.Service) error) error {
	if err := cfg.ValidateStore(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	st, err := server.OpenStore(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	err = fn(charging.NewService(st, charging.SystemClock{}, log, charging.Config{}))
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// storeNote is the help's line on where store commands write.
const storeNote = "It works on the database (--db) directly, whether or not a server is running."

func chargersCommands() map[string]command {
	return map[string]command{
		"add":      {summary: "register a charger so it may connect", run: runChargersAdd},
		"list":     {summary: "list chargers: connected, last seen, boot status, connectors", run: runChargersList},
		"security": {summary: "show or set a charger's OCPP security profile and password, or rotate it", run: runChargerSecurity},
		"tolerate": {summary: "show or switch whether a charger's known quirks are tolerated, and its tolerance log", run: runChargerTolerate},
		"delete":   {summary: "delete a charger (its sessions and CDRs are kept)", run: runChargersDelete},
	}
}

func runChargersAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("chargers add", "ID [flags]", "Registers a charger; it then connects to ws://HOST:PORT/ocpp/ID. "+storeNote, stdout)
	cfg := f.storeConfig()
	strict := f.Bool("strict-timestamps", false, "refuse timestamps without a time zone from this charger")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge chargers add ID [flags]")
	}
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		c, err := svc.RegisterCharger(ctx, charging.Charger{ID: pos[0], StrictTimestamps: *strict})
		if errors.Is(err, charging.ErrExists) {
			return fmt.Errorf("charger %s is already registered (chargebridge chargers list shows it)", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "charger %s registered; it connects to ws://HOST:PORT/ocpp/%s\n", c.ID, c.ID)
		return nil
	})
}

// chargerRow is a charger in chargers list: the stored charger and, when
// a server answered, whether it is connected.
type chargerRow struct {
	charging.Charger
	// Connected is nil when no server answered.
	Connected *bool `json:"connected,omitempty"`
}

func runChargersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("chargers list", "[flags]", "Lists the registered chargers with their last contact, boot status and connectors. "+
		"Whether a charger is connected now is asked of the running server (--server); without one that column reads ?. "+storeNote, stdout)
	cfg := f.storeConfig()
	asJSON := f.Bool("json", false, "print JSON (for scripts) instead of a table")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: chargebridge chargers list [flags]")
	}
	var cs []charging.Charger
	if err := withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		cs, err = svc.Store().ListChargers(ctx)
		return err
	}); err != nil {
		return err
	}
	// Connected is the server's knowledge; ask it briefly.
	connected := map[string]bool{}
	live := false
	c := client()
	c.http.Timeout = 2 * time.Second
	if len(cs) > 0 {
		// Every page of the server's list (it pages like sessions).
		var err error
		for cursor, first := "", true; err == nil && (first || cursor != ""); first = false {
			var resp struct {
				Items []struct {
					ID        string `json:"id"`
					Connected bool   `json:"connected"`
				} `json:"items"`
				Next string `json:"next_cursor"`
			}
			path := "/api/v1/chargers?limit=1000"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			if err = c.do(ctx, "GET", path, nil, &resp); err == nil {
				for _, it := range resp.Items {
					connected[it.ID] = it.Connected
				}
				cursor = resp.Next
			}
		}
		if err == nil {
			live = true
		} else if !*asJSON {
			fmt.Fprintf(stderr, "connected: unknown (%v)\n", err)
		}
	}
	rows := make([]chargerRow, 0, len(cs))
	for _, ch := range cs {
		r := chargerRow{Charger: ch}
		if live {
			v := connected[ch.ID]
			r.Connected = &v
		}
		if r.Connectors == nil {
			r.Connectors = []charging.Connector{}
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return printJSON(stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no chargers (register one with chargebridge chargers add ID, or run serve with --auto-register)")
		return nil
	}
	now := time.Now()
	tw := table(stdout, "ID", "CONNECTED", "LAST SEEN", "BOOT", "VENDOR/MODEL", "CONNECTORS")
	for _, r := range rows {
		conn := "?"
		if r.Connected != nil {
			conn = yesNo(*r.Connected)
		}
		var statuses []string
		for _, k := range r.Connectors {
			if k.ConnectorID > 0 {
				st := fmt.Sprintf("%d:%s", k.ConnectorID, k.Status)
				if len(k.EVSEConnectors) > 1 { // an EVSE of several connectors: each one's
					var each []string
					for _, c := range k.EVSEConnectors {
						each = append(each, fmt.Sprintf("%d/%d:%s", c.ConnectorID, c.EVSEConnectorID, c.Status))
					}
					st += "(" + strings.Join(each, ",") + ")"
				}
				statuses = append(statuses, st)
			}
		}
		model := strings.Trim(r.Vendor+"/"+r.Model, "/")
		tw.row(r.ID, conn, ago(r.LastSeenAt, now), orDash(string(r.BootStatus)), orDash(model), orDash(strings.Join(statuses, " ")))
	}
	return tw.flush()
}

func runChargersDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("chargers delete", "ID [flags]", "Deletes a charger and its connectors: it can no longer connect (unless the server auto-registers); "+
		"its sessions, CDRs and reports are kept. A charger the running server (--server) says is connected is refused unless --force. "+storeNote, stdout)
	cfg := f.storeConfig()
	force := f.Bool("force", false, "delete it even when it is connected (it stays connected until it disconnects, and cannot come back)")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge chargers delete ID [flags]")
	}
	if !*force {
		c := client()
		c.http.Timeout = 2 * time.Second
		var ch struct {
			Connected bool `json:"connected"`
		}
		if c.do(ctx, http.MethodGet, "/api/v1/chargers/"+url.PathEscape(pos[0]), nil, &ch) == nil && ch.Connected {
			return fmt.Errorf("charger %s is connected to the server at %s; stop it first, or give --force", pos[0], c.base)
		}
	}
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		if err := svc.DeleteCharger(ctx, pos[0]); err != nil {
			if errors.Is(err, charging.ErrNotFound) {
				return fmt.Errorf("charger %s is not registered (chargebridge chargers list shows the chargers)", pos[0])
			}
			return err
		}
		fmt.Fprintf(stdout, "charger %s deleted; its sessions are kept\n", pos[0])
		return nil
	})
}

func tagsCommands() map[string]command {
	return map[string]command{
		"add":    {summary: "add or replace an id tag (Accepted, Blocked, Expired, Invalid)", run: runTagsAdd},
		"list":   {summary: "list id tags", run: runTagsList},
		"delete": {summary: "delete an id tag", run: runTagsDelete},
	}
}

func runTagsAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tags add", "TAG [flags]", "Adds an id tag that Authorize accepts (or refuses, with --status), replacing one with the same id. "+storeNote, stdout)
	cfg := f.storeConfig()
	status := f.String("status", "Accepted", "Accepted, Blocked, Expired or Invalid")
	expires := f.String("expires", "", "expiry date (RFC 3339, e.g. 2027-01-01T00:00:00Z)")
	parent := f.String("parent", "", "parent id tag")
	typ := f.String("type", "ISO14443", "token type: ISO14443, ISO15693, eMAID, Central, KeyCode, Local, MacAddress or NoAuthorization")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge tags add TAG [flags]")
	}
	t := charging.IDTag{ID: pos[0], Type: charging.IDTokenType(*typ), Status: charging.AuthStatus(*status), ParentID: *parent}
	if *expires != "" {
		e, err := time.Parse(time.RFC3339, *expires)
		if err != nil {
			return usagef("--expires %q: use RFC 3339, e.g. 2027-01-01T00:00:00Z", *expires)
		}
		t.ExpiresAt = &e
	}
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		t, err := svc.RegisterTag(ctx, t)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "id tag %s (%s) stored with status %s\n", t.ID, t.Type, t.Status)
		if len(t.ID) > 20 {
			fmt.Fprintf(stderr, "note: id tag %s has %d characters; OCPP 1.6 chargers take at most 20, so only 2.0.1 stations can use it\n", t.ID, len(t.ID))
		}
		if t.ExpiresAt != nil && !t.ExpiresAt.After(svc.Clock().Now()) && t.Status == charging.AuthAccepted {
			fmt.Fprintf(stderr, "warning: id tag %s expired at %s, so Authorize answers Expired for it; give a later --expires to make it usable\n",
				t.ID, t.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	})
}

func runTagsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tags list", "[flags]", "Lists the id tags. "+storeNote, stdout)
	cfg := f.storeConfig()
	asJSON := f.Bool("json", false, "print JSON (for scripts) instead of a table")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: chargebridge tags list [flags]")
	}
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		ts, err := svc.Store().ListIDTags(ctx)
		if err != nil {
			return err
		}
		if ts == nil {
			ts = []charging.IDTag{}
		}
		if *asJSON {
			return printJSON(stdout, ts)
		}
		if len(ts) == 0 {
			fmt.Fprintln(stdout, "no id tags (add one with chargebridge tags add TAG)")
			return nil
		}
		now := svc.Clock().Now()
		tw := table(stdout, "TAG", "TYPE", "STATUS", "EXPIRES", "PARENT")
		for _, t := range ts {
			exp := "-"
			if t.ExpiresAt != nil {
				exp = t.ExpiresAt.UTC().Format(time.RFC3339)
				if !t.ExpiresAt.After(now) {
					exp += " (expired)"
				}
			}
			tw.row(t.ID, string(t.Type), string(t.Status), exp, orDash(t.ParentID))
		}
		return tw.flush()
	})
}

func runTagsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tags delete", "TAG [flags]", "Deletes an id tag; Authorize then treats it as unknown. "+storeNote, stdout)
	cfg := f.storeConfig()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge tags delete TAG [flags]")
	}
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		if err := svc.DeleteTag(ctx, pos[0]); err != nil {
			if errors.Is(err, charging.ErrNotFound) {
				return fmt.Errorf("id tag %s does not exist (chargebridge tags list shows the tags)", pos[0])
			}
			return err
		}
		fmt.Fprintf(stdout, "id tag %s deleted\n", pos[0])
		return nil
	})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tableWriter prints aligned columns for people; --json is for scripts.
type tableWriter struct{ tw *tabwriter.Writer }

func table(w io.Writer, header ...string) *tableWriter {
	t := &tableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *tableWriter) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }

func (t *tableWriter) flush() error { return t.tw.Flush() }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago says how long ago t was, for people: "never", "12s ago", "3h ago".
func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return t.UTC().Format(time.RFC3339)
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format("2006-01-02")
}
