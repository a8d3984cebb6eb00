package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
)

// runBeckn is `chargebridge beckn keys --out FILE`: it creates the BPP's
// signing key pair and prints what the registry needs.
func runBeckn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "keys" {
		fmt.Fprintln(stderr, "usage: chargebridge beckn keys --out FILE [--subscriber-id ID] [--key-id ID]")
		return errors.New("beckn: want the keys subcommand")
	}
	fs := flag.NewFlagSet("beckn keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "key file to create (mode 0600; an existing file is never overwritten)")
	sub := fs.String("subscriber-id", "", "our Beckn subscriber id, normally the BPP's domain name (default: this host's name)")
	keyID := fs.String("key-id", "", "the key's unique_key_id in the registry (default: a random UUID)")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("beckn keys: --out FILE is required")
	}
	if *sub == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("beckn keys: no --subscriber-id and no host name: %w", err)
		}
		*sub = h
	}
	kp, err := signing.GenerateKeyFile(*out, *sub, *keyID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "subscriber_id: %s\nunique_key_id: %s\nsigning_public_key: %s\n", kp.ID.SubscriberID, kp.ID.UniqueKeyID, kp.PublicKeyBase64())
	fmt.Fprintf(stderr, "wrote %s; register the public key with your registry (or give it to your BAPs), then run serve with --beckn-key-file %s\n", *out, *out)
	return nil
}
