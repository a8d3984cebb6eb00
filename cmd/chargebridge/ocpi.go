package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
)

const ocpiUsage = `usage:
  chargebridge ocpi parties add --country NL --party ABC   issue a registration token A for a party
  chargebridge ocpi parties list                            list parties, their status and endpoints
  chargebridge ocpi register --url VERSIONS_URL --token TOKEN_A
                                                            register with a party (our server must be running)
  chargebridge ocpi unregister --peer NL-ABC                end the connection with a party`

// publicURL is the base URL peers reach the server at.
func publicURL(cfg *server.Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
	return "http://" + cfg.HTTP
}

func runOCPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", ocpiUsage)
	}
	sub := args[0]
	args = args[1:]
	if sub == "parties" {
		if len(args) == 0 {
			return fmt.Errorf("%s", ocpiUsage)
		}
		sub += " " + args[0]
		args = args[1:]
	}
	fs, cfg, configFile := configFlags("ocpi "+sub, stderr)
	country := fs.String("country", "", "the party's country code (ISO 3166 alpha-2)")
	party := fs.String("party", "", "the party's id (3 characters)")
	versionsURL := fs.String("url", "", "the party's versions URL")
	tokenA := fs.String("token", "", "the token A the party gave us")
	peer := fs.String("peer", "", "the party, COUNTRY-PARTY (e.g. NL-ABC)")
	if err := parseConfig(fs, configFile, args); err != nil {
		return err
	}
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		docs, err := svc.Docs()
		if err != nil {
			return err
		}
		cpo := func() (*ocpi.CPO, error) {
			c, err := ocpi.New(svc, nil, nil, newLogger(cfg, stderr), ocpi.Config{
				Party:     ocpi.Party{CountryCode: cfg.OCPICountry, PartyID: cfg.OCPIParty},
				PublicURL: publicURL(cfg),
			})
			return c, err
		}
		switch sub {
		case "parties add":
			if *country == "" || *party == "" {
				return fmt.Errorf("usage: chargebridge ocpi parties add --country NL --party ABC")
			}
			tok, err := ocpi.AddPeer(ctx, docs, *country, *party, svc.Clock().Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token_a: %s\nversions_url: %s/ocpi/versions\n", tok, publicURL(cfg))
			return nil
		case "parties list":
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
				r := row{Party: p.Key, Status: p.Status, VersionsURL: p.VersionsURL, Endpoints: p.Endpoints, Updated: p.Updated.Format("2006-01-02T15:04:05Z07:00")}
				for _, ro := range p.Roles {
					r.Roles = append(r.Roles, ro.Role)
				}
				out = append(out, r)
			}
			return printJSON(stdout, out)
		case "register":
			if *versionsURL == "" || *tokenA == "" {
				return fmt.Errorf("usage: chargebridge ocpi register --url VERSIONS_URL --token TOKEN_A")
			}
			c, err := cpo()
			if err != nil {
				return err
			}
			p, err := c.Register(ctx, *versionsURL, *tokenA)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "registered with %s (%d endpoints)\n", p.Key, len(p.Endpoints))
			return nil
		case "unregister":
			if *peer == "" {
				return fmt.Errorf("usage: chargebridge ocpi unregister --peer NL-ABC")
			}
			c, err := cpo()
			if err != nil {
				return err
			}
			if err := c.Unregister(ctx, strings.ToUpper(*peer)); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "unregistered %s\n", strings.ToUpper(*peer))
			return nil
		}
		return fmt.Errorf("ocpi: unknown subcommand %q\n%s", sub, ocpiUsage)
	})
}
