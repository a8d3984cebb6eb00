package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
)

// runBecknKeys is `chargebridge beckn keys --out FILE`: it creates the
// BPP's signing key pair and prints what the registry needs.
func runBecknKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("beckn keys", "--out FILE [flags]", "Creates the Beckn BPP's ed25519 signing key file and prints subscriber_id, unique_key_id and "+
		"signing_public_key for the registry; serve then signs with it (--beckn-key-file FILE).", stdout)
	out := f.String("out", "", "key file to create (mode 0600; an existing file is never overwritten)")
	sub := f.String("subscriber-id", "", "our Beckn subscriber id, normally the BPP's domain name (default: this host's name)")
	keyID := f.String("key-id", "", "the key's unique_key_id in the registry (default: a random UUID)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) != 0 {
		return usagef("beckn keys: --out FILE is required")
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
