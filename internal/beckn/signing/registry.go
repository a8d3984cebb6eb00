package signing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Registry lookup defaults.
const (
	DefaultRegistryCacheTTL     = 10 * time.Minute
	DefaultRegistryCacheEntries = 10_000
	defaultRegistryTimeout      = 10 * time.Second
	maxRegistryResponse         = 1 << 20
)

// RegistryConfig configures a RegistryResolver.
type RegistryConfig struct {
	// LookupURL is the registry's lookup endpoint, e.g.
	// https://registry.example.com/lookup. Required.
	LookupURL string
	// HTTPClient makes the requests; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// CacheTTL bounds how long a key is cached (never past its valid_until);
	// zero means DefaultRegistryCacheTTL.
	CacheTTL time.Duration
	// MaxEntries bounds the cache; zero means DefaultRegistryCacheEntries.
	MaxEntries int
	// Clock tells the time for cache expiry and key validity; nil means the
	// system clock.
	Clock Clock
	// Signer, when set, signs each lookup request as a Beckn request (the
	// registry API lists subscriber signature auth); SignatureTTL is the
	// created→expires span, 30 s when zero.
	Signer       *KeyPair
	SignatureTTL time.Duration
}

// RegistryResolver is a KeyResolver that asks a Beckn registry, using the
// registry API's lookup operation: POST {"subscriber_id", "key_id"} to the
// lookup URL, answered by a JSON array of subscriptions carrying
// signing_public_key, valid_from, valid_until and status. Only an entry for
// the same subscriber and key id, with status SUBSCRIBED (or no status) and
// inside its validity period, is accepted. Results are cached per key for
// CacheTTL, never beyond valid_until. Failed lookups are not cached.
type RegistryResolver struct {
	lookupURL string
	client    *http.Client
	ttl       time.Duration
	max       int
	clock     Clock
	signer    *KeyPair
	sigTTL    time.Duration

	// mu guards cache.
	mu    sync.Mutex
	cache map[KeyID]cachedKey
}

type cachedKey struct {
	pub   ed25519.PublicKey
	until time.Time
}

var _ KeyResolver = (*RegistryResolver)(nil)

// NewRegistryResolver checks cfg and returns a resolver. It does not contact
// the registry.
func NewRegistryResolver(cfg RegistryConfig) (*RegistryResolver, error) {
	u, err := url.Parse(cfg.LookupURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry lookup URL %q: want an absolute http(s) URL such as https://registry.example.com/lookup", cfg.LookupURL)
	}
	if cfg.CacheTTL < 0 || cfg.MaxEntries < 0 || cfg.SignatureTTL < 0 {
		return nil, errors.New("registry resolver: cache TTL, max entries and signature TTL must not be negative")
	}
	r := &RegistryResolver{
		lookupURL: cfg.LookupURL,
		client:    cfg.HTTPClient,
		ttl:       cfg.CacheTTL,
		max:       cfg.MaxEntries,
		clock:     clockOrSystem(cfg.Clock),
		signer:    cfg.Signer,
		sigTTL:    cfg.SignatureTTL,
		cache:     make(map[KeyID]cachedKey),
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: defaultRegistryTimeout}
	}
	if r.ttl == 0 {
		r.ttl = DefaultRegistryCacheTTL
	}
	if r.max == 0 {
		r.max = DefaultRegistryCacheEntries
	}
	if r.sigTTL == 0 {
		r.sigTTL = 30 * time.Second
	}
	return r, nil
}

// lookupRequest is the registry lookup request body (a partial Subscription).
type lookupRequest struct {
	SubscriberID string `json:"subscriber_id"`
	KeyID        string `json:"key_id"`
}

// subscription is the part of a registry Subscription we read.
type subscription struct {
	SubscriberID     string `json:"subscriber_id"`
	KeyID            string `json:"key_id"`
	SigningPublicKey string `json:"signing_public_key"`
	ValidFrom        string `json:"valid_from"`
	ValidUntil       string `json:"valid_until"`
	Status           string `json:"status"`
}

// LookupKey returns the subscriber's key from the cache or the registry. A
// registry that answers 404, or with no acceptable entry, yields an error
// wrapping ErrUnknownKey; transport errors and other statuses yield other
// errors.
func (r *RegistryResolver) LookupKey(ctx context.Context, subscriberID, uniqueKeyID string) (ed25519.PublicKey, error) {
	id := KeyID{SubscriberID: subscriberID, UniqueKeyID: uniqueKeyID}
	now := r.clock.Now()
	r.mu.Lock()
	c, ok := r.cache[id]
	if ok && !now.Before(c.until) {
		delete(r.cache, id)
		ok = false
	}
	r.mu.Unlock()
	if ok {
		return c.pub, nil
	}

	pub, until, err := r.fetch(ctx, id, now)
	if err != nil {
		return nil, err
	}
	r.store(id, cachedKey{pub: pub, until: until}, now)
	return pub, nil
}

func (r *RegistryResolver) fetch(ctx context.Context, id KeyID, now time.Time) (ed25519.PublicKey, time.Time, error) {
	body, err := json.Marshal(lookupRequest{SubscriberID: id.SubscriberID, KeyID: id.UniqueKeyID})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: %w", id, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.lookupURL, bytes.NewReader(body))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if r.signer != nil {
		auth, err := r.signer.Sign(body, now, now.Add(r.sigTTL))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("registry lookup %s: %w", id, err)
		}
		req.Header.Set("Authorization", auth)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: %w", id, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRegistryResponse+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: read response: %w", id, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, time.Time{}, fmt.Errorf("%w: registry %s answered %s for %s", ErrUnknownKey, r.lookupURL, resp.Status, id)
	case resp.StatusCode != http.StatusOK:
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: registry %s answered %s", id, r.lookupURL, resp.Status)
	case len(data) > maxRegistryResponse:
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: response exceeds %d bytes", id, maxRegistryResponse)
	}
	var subs []subscription
	if err := json.Unmarshal(data, &subs); err != nil {
		return nil, time.Time{}, fmt.Errorf("registry lookup %s: response is not a JSON array of subscriptions: %w", id, err)
	}
	var reasons []string
	for _, s := range subs {
		pub, until, why := r.accept(s, id, now)
		if why == "" {
			return pub, until, nil
		}
		reasons = append(reasons, why)
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no entries")
	}
	return nil, time.Time{}, fmt.Errorf("%w: registry has no valid key for %s: %v", ErrUnknownKey, id, reasons)
}

// accept decides whether s is a usable key for id at now. It returns the key
// and the time its cache entry must end, or a reason for refusing it.
func (r *RegistryResolver) accept(s subscription, id KeyID, now time.Time) (ed25519.PublicKey, time.Time, string) {
	if s.SubscriberID != id.SubscriberID {
		return nil, time.Time{}, fmt.Sprintf("entry for subscriber %q", s.SubscriberID)
	}
	if s.KeyID != "" && s.KeyID != id.UniqueKeyID {
		return nil, time.Time{}, fmt.Sprintf("entry for key %q", s.KeyID)
	}
	if s.Status != "" && s.Status != "SUBSCRIBED" {
		return nil, time.Time{}, fmt.Sprintf("status %s", s.Status)
	}
	until := now.Add(r.ttl)
	if s.ValidFrom != "" {
		from, err := time.Parse(time.RFC3339, s.ValidFrom)
		if err != nil {
			return nil, time.Time{}, fmt.Sprintf("valid_from %q is not RFC 3339", s.ValidFrom)
		}
		if now.Before(from) {
			return nil, time.Time{}, fmt.Sprintf("valid from %s", s.ValidFrom)
		}
	}
	if s.ValidUntil != "" {
		end, err := time.Parse(time.RFC3339, s.ValidUntil)
		if err != nil {
			return nil, time.Time{}, fmt.Sprintf("valid_until %q is not RFC 3339", s.ValidUntil)
		}
		if !now.Before(end) {
			return nil, time.Time{}, fmt.Sprintf("valid until %s", s.ValidUntil)
		}
		if end.Before(until) {
			until = end
		}
	}
	pub, err := parsePublicKey(s.SigningPublicKey)
	if err != nil {
		return nil, time.Time{}, fmt.Sprintf("signing_public_key: %v", err)
	}
	return pub, until, ""
}

// store caches k for id, making room when the cache is full: expired entries
// go first, then arbitrary ones (map order), which only costs a re-fetch.
func (r *RegistryResolver) store(id KeyID, k cachedKey, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cache[id]; !ok && len(r.cache) >= r.max {
		for kid, c := range r.cache {
			if !now.Before(c.until) {
				delete(r.cache, kid)
			}
		}
		for kid := range r.cache {
			if len(r.cache) < r.max {
				break
			}
			delete(r.cache, kid)
		}
	}
	r.cache[id] = k
}
