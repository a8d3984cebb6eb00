package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
)

func ocpiCommands() map[string]command {
	return map[string]command{
		"parties": {summary: "parties that register with us: issue a token A, list", sub: map[string]command{
			"add":  {summary: "issue a registration token A for a party (hand it over with our versions URL)", run: runOCPIPartiesAdd},
			"list": {summary: "list parties, their status, roles and endpoints", run: runOCPIPartiesList},
		}},
		"register":   {summary: "register with a party from its versions URL and token A (our server must be running)", run: runOCPIRegister},
		"unregister": {summary: "end the connection with a party", run: runOCPIUnregister},
	}
}

// publicURL is the base URL peers reach the server at.
func publicURL(cfg *server.Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
	return "http://" + cfg.HTTP
}

// ocpiConfig adds the flags of the OCPI commands: the store's, and where
// and who we are (our versions URL and party).
func ocpiConfig(f *flags) *server.Config {
	return f.config(append(append([]string{}, server.StoreFlags...), "http", "public-url", "ocpi-country", "ocpi-party")...)
}

// withDocs runs fn on the store's documents, where OCPI keeps its parties.
func withDocs(ctx context.Context, cfg *server.Config, stderr io.Writer, fn func(*charging.Service, charging.DocStore) error) error {
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		docs, err := svc.Docs()
		if err != nil {
			return err
		}
		return fn(svc, docs)
	})
}

func runOCPIPartiesAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("ocpi parties add", "--country CC --party PID [flags]", "Issues a registration token A for an OCPI party and prints it with our versions URL; "+
		"hand both to the party, which then registers. A party that has a token A already keeps it unless --replace is given. "+storeNote, stdout)
	cfg := ocpiConfig(f)
	country := f.String("country", "", "the party's country code (ISO 3166 alpha-2, e.g. NL)")
	party := f.String("party", "", "the party's id (3 characters, e.g. ABC)")
	replace := f.Bool("replace", false, "issue a new token A for a party that has one (the old token A stops working)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *country == "" || *party == "" || len(pos) != 0 {
		return usagef("usage: chargebridge ocpi parties add --country NL --party ABC [flags]")
	}
	return withDocs(ctx, cfg, stderr, func(svc *charging.Service, docs charging.DocStore) error {
		ps, err := ocpi.ListPeers(ctx, docs)
		if err != nil {
			return err
		}
		key := ocpi.PeerKey(*country, *party)
		for _, p := range ps {
			if p.Key == key && !*replace && p.Status != ocpi.PeerUnregistered {
				return fmt.Errorf("party %s exists already (status %s); add --replace to issue a new token A (the old one stops working)", key, p.Status)
			}
		}
		tok, err := ocpi.AddPeer(ctx, docs, *country, *party, svc.Clock().Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token_a: %s\nversions_url: %s/ocpi/versions\n", tok, publicURL(cfg))
		return nil
	})
}

func runOCPIPartiesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("ocpi parties list", "[flags]", "Lists the OCPI parties, their status, roles and endpoints. "+storeNote, stdout)
	cfg := f.storeConfig()
	asJSON := f.Bool("json", false, "print JSON (for scripts) instead of a table")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: chargebridge ocpi parties list [flags]")
	}
	return withDocs(ctx, cfg, stderr, func(svc *charging.Service, docs charging.DocStore) error {
		ps, err := ocpi.ListPeers(ctx, docs)
		if err != nil {
			return err
		}
		type row struct {
			Party       string          `json:"party"`
			Status      ocpi.PeerStatus `json:"status"`
			VersionsURL string          `json:"versions_url,omitempty"`
			Roles       []string        `json:"roles,omitempty"`
			Endpoints   []ocpi.Endpoint `json:"endpoints,omitempty"`
			Updated     string          `json:"updated"`
		}
		out := []row{}
		for _, p := range ps {
			r := row{Party: p.Key, Status: p.Status, VersionsURL: p.VersionsURL, Endpoints: p.Endpoints, Updated: p.Updated.Format(time.RFC3339)}
			for _, ro := range p.Roles {
				r.Roles = append(r.Roles, ro.Role)
			}
			out = append(out, r)
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		if len(out) == 0 {
			fmt.Fprintln(stdout, "no OCPI parties (issue a token A with chargebridge ocpi parties add --country NL --party ABC)")
			return nil
		}
		tw := table(stdout, "PARTY", "STATUS", "ROLES", "ENDPOINTS", "VERSIONS URL", "UPDATED")
		for _, r := range out {
			tw.row(r.Party, string(r.Status), orDash(strings.Join(r.Roles, ",")), fmt.Sprint(len(r.Endpoints)), orDash(r.VersionsURL), r.Updated)
		}
		return tw.flush()
	})
}

// withCPO runs fn on our OCPI CPO role over the configured database.
func withCPO(ctx context.Context, cfg *server.Config, stderr io.Writer, fn func(*ocpi.CPO) error) error {
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		c, err := ocpi.New(svc, nil, nil, newLogger(cfg, stderr), ocpi.Config{
			Party:     ocpi.Party{CountryCode: cfg.OCPICountry, PartyID: cfg.OCPIParty},
			PublicURL: publicURL(cfg),
		})
		if err != nil {
			return err
		}
		return fn(c)
	})
}

func runOCPIRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("ocpi register", "--url VERSIONS_URL --token TOKEN_A [flags]", "Registers with an OCPI party from its versions URL and the token A it gave us. "+
		"Our server must be running at --public-url (or --http): the party calls back during the handshake.", stdout)
	cfg := ocpiConfig(f)
	versionsURL := f.String("url", "", "the party's versions URL")
	tokenA := f.String("token", "", "the token A the party gave us")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *versionsURL == "" || *tokenA == "" || len(pos) != 0 {
		return usagef("usage: chargebridge ocpi register --url VERSIONS_URL --token TOKEN_A [flags]")
	}
	return withCPO(ctx, cfg, stderr, func(c *ocpi.CPO) error {
		p, err := c.Register(ctx, *versionsURL, *tokenA)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registered with %s (%d endpoints)\n", p.Key, len(p.Endpoints))
		return nil
	})
}

func runOCPIUnregister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("ocpi unregister", "--peer CC-PID [flags]", "Ends the connection with an OCPI party: it is told (DELETE credentials) and its tokens stop working.", stdout)
	cfg := ocpiConfig(f)
	peer := f.String("peer", "", "the party, COUNTRY-PARTY (e.g. NL-ABC)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *peer == "" || len(pos) != 0 {
		return usagef("usage: chargebridge ocpi unregister --peer NL-ABC [flags]")
	}
	key := strings.ToUpper(*peer)
	return withCPO(ctx, cfg, stderr, func(c *ocpi.CPO) error {
		if err := c.Unregister(ctx, key); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unregistered %s\n", key)
		return nil
	})
}
