package security

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// CertWarning is how long before its client certificate expires a charger
// is flagged.
const CertWarning = 30 * 24 * time.Hour

// Change is what an operator sets for a charger.
type Change struct {
	Profile int `json:"security_profile"`
	// Password is the new Basic-auth password (profiles 1 and 2); when it
	// is empty and the charger has none yet, or Generate is set, one is
	// generated and returned once.
	Password string `json:"basic_auth_password,omitempty"`
	Generate bool   `json:"generate,omitempty"`
	// AllowDowngrade allows a lower profile than the charger's.
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
}

// View is a charger's security as the API and dashboard show it (no
// hashes).
type View struct {
	ChargerID string `json:"charger_id"`
	Profile   int    `json:"security_profile"`
	// EffectiveProfile is the profile enforced: the charger's, raised to
	// the server's --min-security-profile.
	EffectiveProfile int        `json:"effective_profile"`
	HasPassword      bool       `json:"has_password"`
	RotationPending  bool       `json:"rotation_pending"`
	PendingSince     *time.Time `json:"rotation_pending_since,omitempty"`
	CertSerial       string     `json:"cert_serial,omitempty"`
	CertNotAfter     *time.Time `json:"cert_not_after,omitempty"`
	// CertWarning is set when the certificate expires within 30 days
	// ("expires in 12 days") or has expired.
	CertWarning       string     `json:"cert_warning,omitempty"`
	LastAuthAt        *time.Time `json:"last_auth_at,omitempty"`
	LastAuthRemote    string     `json:"last_auth_remote,omitempty"`
	LastAuthProfile   int        `json:"last_auth_profile,omitempty"`
	FailedAttempts    int64      `json:"failed_attempts"`
	LastFailureAt     *time.Time `json:"last_failure_at,omitempty"`
	LastFailureRemote string     `json:"last_failure_remote,omitempty"`
	// Password is a generated password, returned once by the call that
	// made it.
	Password string `json:"basic_auth_password,omitempty"`
}

// View returns what the API shows of r.
func (g *Guard) View(r Record) View {
	v := View{
		ChargerID: r.ChargerID, Profile: r.Profile, EffectiveProfile: max(r.Profile, g.cfg.MinProfile),
		HasPassword: r.HasPassword(), RotationPending: r.PendingHash != "", PendingSince: r.PendingSince,
		CertSerial: r.CertSerial, CertNotAfter: r.CertNotAfter,
		LastAuthAt: r.LastAuthAt, LastAuthRemote: r.LastAuthRemote, LastAuthProfile: r.LastAuthProfile,
		FailedAttempts: r.FailedAttempts, LastFailureAt: r.LastFailureAt, LastFailureRemote: r.LastFailureRemote,
	}
	if r.CertNotAfter != nil {
		left := r.CertNotAfter.Sub(g.cfg.Now())
		switch {
		case left <= 0:
			v.CertWarning = "expired"
		case left <= CertWarning:
			v.CertWarning = fmt.Sprintf("expires in %d days", int(left.Hours()/24))
		}
	}
	return v
}

// Capabilities says what the listener can enforce; Set refuses a profile
// it cannot, so that no charger is locked out by a setting the server
// cannot honour.
type Capabilities struct {
	TLS      bool // --tls-cert is set
	ClientCA bool // --tls-client-ca or --ca-cert is set
}

// Set changes a charger's profile and password. It refuses to lower the
// profile unless c.AllowDowngrade, and returns the new view with a
// generated password, if any, in View.Password.
func (g *Guard) Set(ctx context.Context, id string, c Change, caps Capabilities) (View, error) {
	if g.cfg.Docs == nil {
		return View{}, fmt.Errorf("%w: this store keeps no charger credentials", charging.ErrNotSupported)
	}
	if g.cfg.Known != nil && !g.cfg.Known(ctx, id) {
		return View{}, fmt.Errorf("charger %s: %w", id, charging.ErrNotFound)
	}
	if c.Profile < 0 || c.Profile > MaxProfile {
		return View{}, fmt.Errorf("%w: security_profile %d: use 0 to 3", charging.ErrInvalidInput, c.Profile)
	}
	if c.Profile >= 2 && !caps.TLS {
		return View{}, fmt.Errorf("%w: security profile %d needs TLS; start the server with --tls-cert and --tls-key first", charging.ErrConflict, c.Profile)
	}
	if c.Profile == 3 && !caps.ClientCA {
		return View{}, fmt.Errorf("%w: security profile 3 needs client certificates; start the server with --tls-client-ca (or --ca-cert) first", charging.ErrConflict)
	}
	if c.Password != "" {
		if c.Generate {
			return View{}, fmt.Errorf("%w: give a password or ask to generate one, not both", charging.ErrInvalidInput)
		}
		if err := CheckPassword(c.Password); err != nil {
			return View{}, fmt.Errorf("%w: %w", charging.ErrInvalidInput, err)
		}
	}
	rec, err := g.recs.get(ctx, id)
	if err != nil {
		return View{}, err
	}
	if c.Profile < rec.Profile && !c.AllowDowngrade {
		return View{}, fmt.Errorf("%w: charger %s is at security profile %d; lowering it to %d needs allow_downgrade (--allow-downgrade)", charging.ErrConflict, id, rec.Profile, c.Profile)
	}
	var generated string
	switch {
	case c.Password != "":
	case c.Generate, (c.Profile == 1 || c.Profile == 2) && !rec.HasPassword():
		generated = GeneratePassword()
		c.Password = generated
	}
	if c.Password != "" {
		h, err := HashPassword(c.Password)
		if err != nil {
			return View{}, err
		}
		rec.PasswordHash, rec.PendingHash, rec.PendingSince = h, "", nil
	}
	rec.Profile = c.Profile
	rec.UpdatedAt = g.cfg.Now()
	if err := g.recs.put(ctx, rec); err != nil {
		return View{}, err
	}
	g.cfg.Log.Info("charger security changed", "charger", id, "profile", c.Profile, "password_changed", c.Password != "")
	v := g.View(rec)
	v.Password = generated
	return v, nil
}

// Configure sends a configuration key to a connected charger
// (ChangeConfiguration in 1.6) and returns the charger's status.
type Configure func(ctx context.Context, chargerID, key, value string) (status string, err error)

// ErrRotation says a password rotation could not be done.
var ErrRotation = errors.New("password rotation failed")

// Rotate gives a connected charger at profile 1 or 2 a new password
// without locking it out: the new password's hash is stored as pending
// first, then sent (AuthorizationKey); both are accepted until the charger
// connects with the new one. When the charger refuses, the pending
// password is dropped. It returns the view with the new password.
func (g *Guard) Rotate(ctx context.Context, id string, send Configure) (View, error) {
	if g.cfg.Docs == nil {
		return View{}, fmt.Errorf("%w: this store keeps no charger credentials", charging.ErrNotSupported)
	}
	if g.cfg.Known != nil && !g.cfg.Known(ctx, id) {
		return View{}, fmt.Errorf("charger %s: %w", id, charging.ErrNotFound)
	}
	rec, err := g.recs.get(ctx, id)
	if err != nil {
		return View{}, err
	}
	if p := max(rec.Profile, g.cfg.MinProfile); p != 1 && p != 2 {
		return View{}, fmt.Errorf("%w: charger %s is at security profile %d; only profiles 1 and 2 use a password", charging.ErrConflict, id, p)
	}
	pw := GeneratePassword()
	h, err := HashPassword(pw)
	if err != nil {
		return View{}, err
	}
	now := g.cfg.Now()
	rec.PendingHash, rec.PendingSince, rec.UpdatedAt = h, &now, now
	if err := g.recs.put(ctx, rec); err != nil {
		return View{}, err
	}
	status, err := send(ctx, id, "AuthorizationKey", pw)
	if err == nil && status != "Accepted" && status != "RebootRequired" {
		err = fmt.Errorf("charger answered %s", status)
	}
	if err != nil {
		// Undo on a fresh read: the charger may have connected meanwhile.
		if cur, gerr := g.recs.get(context.WithoutCancel(ctx), id); gerr == nil && cur.PendingHash == h {
			cur.PendingHash, cur.PendingSince, cur.UpdatedAt = "", nil, g.cfg.Now()
			_ = g.recs.put(context.WithoutCancel(ctx), cur)
		}
		return View{}, fmt.Errorf("%w: %s did not take the new AuthorizationKey: %w", ErrRotation, id, err)
	}
	g.cfg.Log.Info("charger password rotated; the old one stays valid until the charger reconnects with the new one", "charger", id)
	v := g.View(rec)
	v.Password = pw
	return v, nil
}
