package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/server"
)

// runChargerSecurity is `chargebridge chargers security ID …`: show or set
// a charger's OCPP security profile and Basic-auth password, or rotate the
// password, through the running server's API.
func runChargerSecurity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return chargerSecurity(ctx, args, os.Stdin, stdout, stderr)
}

func chargerSecurity(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newFlags("chargers security", "ID [--profile N [--password-stdin | --generate] [--allow-downgrade]] [--rotate] [flags]",
		"Shows a charger's OCPP security (profile, password set, certificate expiry, last authenticated connection, failed attempts), "+
			"sets its profile and Basic-auth password, or rotates the password of a connected charger (ChangeConfiguration AuthorizationKey; "+
			"the old password stays valid until it reconnects with the new one). It asks the running server (--server).", stdout)
	profile := f.Int("profile", -1, "security profile: 0 none, 1 Basic auth, 2 Basic auth over TLS, 3 TLS client certificate")
	fromStdin := f.Bool("password-stdin", false, "read the Basic-auth password (16–40 characters) from standard input")
	generate := f.Bool("generate", false, "generate a new password and print it once")
	rotate := f.Bool("rotate", false, "give the connected charger a new password; the old one stays valid until it reconnects with the new one")
	downgrade := f.Bool("allow-downgrade", false, "allow a lower profile than the charger's")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge chargers security ID [--profile N [--password-stdin | --generate]] [--rotate] [flags]")
	}
	c := client()
	id := pos[0]
	path := "/api/v1/chargers/" + id + "/security"
	var v security.View
	switch {
	case *rotate:
		if *profile >= 0 || *fromStdin || *generate {
			return usagef("chargers security: --rotate goes alone: it keeps the profile and makes the password")
		}
		err = c.do(ctx, http.MethodPost, path+"/rotate", nil, &v)
	case *profile >= 0:
		if *fromStdin && *generate {
			return usagef("chargers security: give --password-stdin or --generate, not both")
		}
		ch := security.Change{Profile: *profile, Generate: *generate, AllowDowngrade: *downgrade}
		if *fromStdin {
			line, rerr := bufio.NewReader(stdin).ReadString('\n')
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				return rerr
			}
			ch.Password = strings.TrimRight(line, "\r\n")
			if err := security.CheckPassword(ch.Password); err != nil {
				return fmt.Errorf("--password-stdin: %w", err)
			}
		}
		err = c.do(ctx, http.MethodPut, path, ch, &v)
	case *fromStdin || *generate || *downgrade:
		return usagef("chargers security: --password-stdin, --generate and --allow-downgrade need --profile N")
	default:
		err = c.do(ctx, http.MethodGet, path, nil, &v)
	}
	if err != nil {
		return fmt.Errorf("chargers security %s: %w", id, err)
	}
	if v.Password != "" {
		fmt.Fprintf(stderr, "new Basic-auth password of %s (shown once; the charger's AuthorizationKey):\n", id)
		fmt.Fprintln(stdout, v.Password)
		if *rotate {
			fmt.Fprintln(stderr, "sent to the charger; the old password is accepted until it reconnects with this one")
		}
		return nil
	}
	return printJSON(stdout, v)
}

func caCommands() map[string]command {
	return map[string]command{
		"init":  {summary: "make the operator CA (certificate and key files)", run: runCAInit},
		"issue": {summary: "issue a server certificate (--server HOST) or a charger's client certificate (--charger ID)", run: runCAIssue},
	}
}

func caFileFlags(f *flags) (cert, key *string, days *int) {
	cert = f.String("ca-cert", "ca.pem", "CA certificate file (PEM)")
	key = f.String("ca-key", "ca-key.pem", "CA private key file (PEM; keep it secret)")
	days = f.Int("days", 0, "validity in days (default: CA 3650, server 397, charger 730)")
	return cert, key, days
}

func validityDays(days, def int) time.Duration {
	if days > 0 {
		def = days
	}
	return time.Duration(def) * 24 * time.Hour
}

func runCAInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("ca init", "[flags]", "Makes the operator's certificate authority: an ECDSA P-256 key and a self-signed CA certificate. "+
		"serve --ca-cert/--ca-key then signs chargers' certificate requests (SignCertificate) and verifies their client certificates (security profile 3).", stdout)
	caCert, caKey, days := caFileFlags(f)
	name := f.String("name", "chargebridge operator CA", "CA name")
	if _, err := f.parse(args); err != nil {
		return err
	}
	ca, err := security.InitCA(*caCert, *caKey, *name, validityDays(*days, 3650))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "CA %q written to %s (key %s, keep it secret); valid until %s\n", *name, *caCert, *caKey, ca.Cert.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(stdout, "serve with --ca-cert %s --ca-key %s (signs chargers' CSRs and verifies their certificates)\n", *caCert, *caKey)
	return nil
}

func runCAIssue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("ca issue", "(--server HOST[,HOST…] | --charger ID) --out-cert FILE --out-key FILE [flags]",
		"Issues a certificate signed by the CA: the server's TLS certificate for its host names and addresses, "+
			"or a charger's client certificate (CN = its id) for chargers that cannot send a CSR.", stdout)
	caCert, caKey, days := caFileFlags(f)
	hosts := f.String("server", "", "issue a server certificate for these host names / IP addresses (comma-separated)")
	charger := f.String("charger", "", "issue a client certificate for this charge point id")
	outCert := f.String("out-cert", "", "where to write the certificate (PEM, followed by the CA's)")
	outKey := f.String("out-key", "", "where to write the private key (PEM, mode 0600)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if (*hosts == "") == (*charger == "") || *outCert == "" || *outKey == "" {
		return usagef("usage: chargebridge ca issue (--server HOST[,HOST…] | --charger ID) --out-cert FILE --out-key FILE")
	}
	ca, err := security.LoadCA(*caCert, *caKey)
	if err != nil {
		return err
	}
	var c, k []byte
	if *charger != "" {
		c, k, err = ca.Issue([]string{*charger}, true, validityDays(*days, 730))
	} else {
		c, k, err = ca.Issue(strings.Split(*hosts, ","), false, validityDays(*days, 397))
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(*outKey, k, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*outCert, c, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate written to %s, key to %s\n", *outCert, *outKey)
	return nil
}

// reloadOnSIGHUP reloads the TLS certificate on SIGHUP until the returned
// function is called.
func reloadOnSIGHUP(srv *server.Server, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := srv.ReloadTLS(); err != nil {
					log.Error("SIGHUP: TLS certificate not reloaded; still serving the previous one", "err", err)
				} else {
					log.Info("SIGHUP: TLS certificate reloaded")
				}
			}
		}
	}()
	return func() { signal.Stop(hup); close(done); <-finished }
}
