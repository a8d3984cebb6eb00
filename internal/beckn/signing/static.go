package signing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
)

// Subscriber is one entry of a subscribers file: a peer's key as a registry
// would publish it.
type Subscriber struct {
	SubscriberID     string `json:"subscriber_id"`
	UniqueKeyID      string `json:"unique_key_id"`
	SigningPublicKey string `json:"signing_public_key"`
}

// StaticResolver is a KeyResolver over a fixed list of subscriber keys, for
// closed networks and tests where no registry is used.
type StaticResolver struct {
	keys map[KeyID]ed25519.PublicKey // read-only after construction
}

var _ KeyResolver = (*StaticResolver)(nil)

// NewStaticResolver returns a resolver for subs. Every entry needs a
// subscriber id, a unique key id and a base64 32-byte public key; duplicate
// (subscriber_id, unique_key_id) pairs are rejected.
func NewStaticResolver(subs []Subscriber) (*StaticResolver, error) {
	r := &StaticResolver{keys: make(map[KeyID]ed25519.PublicKey, len(subs))}
	for i, s := range subs {
		id := KeyID{SubscriberID: s.SubscriberID, UniqueKeyID: s.UniqueKeyID}
		if err := id.validate(); err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		if _, dup := r.keys[id]; dup {
			return nil, fmt.Errorf("subscriber %d: key %s is listed twice", i, id)
		}
		pub, err := parsePublicKey(s.SigningPublicKey)
		if err != nil {
			return nil, fmt.Errorf("subscriber %d (%s): signing_public_key: %w", i, id, err)
		}
		r.keys[id] = pub
	}
	return r, nil
}

// LoadSubscribersFile reads a JSON array of Subscriber objects
// ([{"subscriber_id", "unique_key_id", "signing_public_key"}, …]) and
// returns a resolver for it. Unknown fields are rejected so typos surface at
// start-up.
func LoadSubscribersFile(path string) (*StaticResolver, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load subscribers file: %w", err)
	}
	var subs []Subscriber
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&subs); err != nil {
		return nil, fmt.Errorf("load subscribers file %s: want a JSON array of {subscriber_id, unique_key_id, signing_public_key}: %w", path, err)
	}
	r, err := NewStaticResolver(subs)
	if err != nil {
		return nil, fmt.Errorf("load subscribers file %s: %w", path, err)
	}
	return r, nil
}

// LookupKey returns the listed key for the subscriber and key id, or an error
// wrapping ErrUnknownKey.
func (r *StaticResolver) LookupKey(_ context.Context, subscriberID, uniqueKeyID string) (ed25519.PublicKey, error) {
	pub, ok := r.keys[KeyID{SubscriberID: subscriberID, UniqueKeyID: uniqueKeyID}]
	if !ok {
		return nil, fmt.Errorf("%w: %s|%s is not in the subscribers file", ErrUnknownKey, subscriberID, uniqueKeyID)
	}
	return pub, nil
}
