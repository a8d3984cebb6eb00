package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// BecknConfig configures the Beckn BPP. It is off unless a key file is
// given.
type BecknConfig struct {
	// SubscriberID is our bpp_id; by default the key file's subscriber_id.
	SubscriberID string
	// KeyFile is our signing key (chargebridge beckn keys --out FILE).
	KeyFile string
	// Registry is a registry's lookup URL; Subscribers a static file of
	// BAP keys. One of them is required.
	Registry    string
	Subscribers string
	// Units is "physical" (ENERGY KWH, POWER KW) or "swapped" (the
	// upstream examples' ENERGY KW, POWER KWH).
	Units string
	// The catalog: every connector is offered with this plug and power, at
	// this flat price, until tariffs are assigned to connectors.
	ConnectorType string
	MaxPowerKW    float64
	Location      string
	Currency      string
	PricePerKWh   string
	VATPercent    string
	GracePeriod   time.Duration
	SupportEmail  string
	SupportPhone  string
}

func (c *BecknConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.KeyFile, "beckn-key-file", "", "Beckn signing key file (create one with `chargebridge beckn keys --out FILE`); turns the Beckn BPP at /beckn/{action} on")
	fs.StringVar(&c.SubscriberID, "beckn-subscriber-id", "", "our Beckn subscriber id (bpp_id); default: the key file's subscriber_id")
	fs.StringVar(&c.Registry, "beckn-registry", "", "Beckn registry lookup URL that BAP signing keys are looked up at, e.g. https://registry.example.com/lookup")
	fs.StringVar(&c.Subscribers, "beckn-subscribers", "", "JSON file of BAP signing keys [{subscriber_id, unique_key_id, signing_public_key}] (instead of a registry)")
	fs.StringVar(&c.Units, "beckn-units", "physical", "telemetry unit codes: physical (ENERGY KWH, POWER KW) or swapped (ENERGY KW, POWER KWH, as the upstream DEG examples); both are read")
	fs.StringVar(&c.ConnectorType, "beckn-connector-type", "Type2", "connector type offered in the Beckn catalog: CCS2, Type2, CHAdeMO or GB_T")
	fs.Float64Var(&c.MaxPowerKW, "beckn-max-power-kw", 22, "connector power offered in the Beckn catalog, kW")
	fs.StringVar(&c.Location, "beckn-location", "", "where the chargers are, LAT,LON (e.g. 52.3702,4.8952), for spatial discovery")
	fs.StringVar(&c.Currency, "beckn-currency", "EUR", "currency of Beckn offers (ISO 4217)")
	fs.StringVar(&c.PricePerKWh, "beckn-price-per-kwh", "0.30", "flat energy price of Beckn offers, per kWh excluding VAT")
	fs.StringVar(&c.VATPercent, "beckn-vat-percent", "0", "VAT added to the Beckn price, percent")
	fs.DurationVar(&c.GracePeriod, "beckn-grace-period", 15*time.Minute, "how long a Beckn reservation is held past its start")
	fs.StringVar(&c.SupportEmail, "beckn-support-email", "", "support e-mail address given in on_support")
	fs.StringVar(&c.SupportPhone, "beckn-support-phone", "", "support phone number given in on_support")
}

// enabled says whether the BPP runs.
func (c *BecknConfig) enabled() bool { return c.KeyFile != "" }

// validate checks the flags that need no files.
func (c *BecknConfig) validate() error {
	if !c.enabled() {
		if c.Registry != "" || c.Subscribers != "" || c.SubscriberID != "" {
			return errors.New("--beckn-registry, --beckn-subscribers and --beckn-subscriber-id need --beckn-key-file (create one with `chargebridge beckn keys --out FILE`)")
		}
		return nil
	}
	if (c.Registry == "") == (c.Subscribers == "") {
		return errors.New("the Beckn BPP needs BAP keys from exactly one of --beckn-registry URL or --beckn-subscribers FILE")
	}
	if _, err := evsession.ParseUnitStyle(c.Units); err != nil {
		return fmt.Errorf("--beckn-units: %w", err)
	}
	if !contains(beckn.ConnectorTypes, c.ConnectorType) {
		return fmt.Errorf("--beckn-connector-type %q: use one of %s", c.ConnectorType, strings.Join(beckn.ConnectorTypes, ", "))
	}
	if c.MaxPowerKW < 1 || c.MaxPowerKW > 500 {
		return fmt.Errorf("--beckn-max-power-kw %g: use 1 to 500", c.MaxPowerKW)
	}
	if c.Location != "" {
		if _, err := beckn.ParsePoint(c.Location); err != nil {
			return fmt.Errorf("--beckn-location: %w", err)
		}
	}
	if _, err := c.pricer(); err != nil {
		return err
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *BecknConfig) pricer() (beckn.FlatPricer, error) {
	price, err := decimal.NewFromString(c.PricePerKWh)
	if err != nil {
		return beckn.FlatPricer{}, fmt.Errorf("--beckn-price-per-kwh %q is not a decimal number", c.PricePerKWh)
	}
	vat, err := decimal.NewFromString(c.VATPercent)
	if err != nil {
		return beckn.FlatPricer{}, fmt.Errorf("--beckn-vat-percent %q is not a decimal number", c.VATPercent)
	}
	p, err := beckn.NewFlatPricer(c.Currency, price, vat)
	if err != nil {
		return beckn.FlatPricer{}, fmt.Errorf("--beckn-currency/--beckn-price-per-kwh/--beckn-vat-percent: %w", err)
	}
	return p, nil
}

// newBPP builds the Beckn BPP from the configuration, or nil when it is
// off.
func (s *Server) newBPP(clock charging.Clock, adjust func(*beckn.Config)) (*beckn.BPP, error) {
	cfg := s.cfg
	bc := cfg.Beckn
	if !bc.enabled() {
		return nil, nil
	}
	if err := bc.validate(); err != nil {
		return nil, err
	}
	keys, err := signing.LoadKeyFile(bc.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--beckn-key-file: %w", err)
	}
	if bc.SubscriberID != "" && bc.SubscriberID != keys.ID.SubscriberID {
		return nil, fmt.Errorf("--beckn-subscriber-id %s differs from the key file's subscriber_id %s; use the key registered for this subscriber", bc.SubscriberID, keys.ID.SubscriberID)
	}
	var resolver signing.KeyResolver
	if bc.Subscribers != "" {
		if resolver, err = signing.LoadSubscribersFile(bc.Subscribers); err != nil {
			return nil, fmt.Errorf("--beckn-subscribers: %w", err)
		}
	} else if resolver, err = signing.NewRegistryResolver(signing.RegistryConfig{LookupURL: bc.Registry, Clock: clock, Signer: keys}); err != nil {
		return nil, fmt.Errorf("--beckn-registry: %w", err)
	}
	units, _ := evsession.ParseUnitStyle(bc.Units)
	flat, _ := bc.pricer()
	public := cfg.PublicURL
	if public == "" {
		public = "http://" + cfg.HTTP
	}
	bcfg := beckn.Config{
		Keys: keys, URI: strings.TrimRight(public, "/") + "/beckn", Resolver: resolver, Units: units,
		Pricer:      tariffPricer{flat: flat, catalog: s.catalog, pricer: s.pricer},
		Catalog:     beckn.CatalogConfig{ConnectorType: bc.ConnectorType, MaxPowerKW: bc.MaxPowerKW, Sites: s.becknSites()},
		GracePeriod: bc.GracePeriod,
		Support:     beckn.SupportInfo{Email: bc.SupportEmail, Phone: bc.SupportPhone},
		Events:      s.events(),
		Clock:       clock, Log: s.log,
	}
	if bc.Location != "" {
		bcfg.Catalog.Location, _ = beckn.ParsePoint(bc.Location)
	}
	if rs, ok := s.store.(beckn.ReplayStore); ok {
		bcfg.Replays = rs // replays are refused across restarts and nodes
	}
	if l, ok := s.store.(charging.Locker); ok {
		bcfg.Locks = l // an order changes on one node at a time
	}
	if n := s.cluster.node; n != nil {
		// The kept callbacks of a node that died are taken over.
		bcfg.Owner = n.RunID()
		bcfg.Alive = func(ctx context.Context) (map[string]bool, error) {
			nodes, err := n.Nodes(ctx)
			if err != nil {
				return nil, err
			}
			alive := make(map[string]bool, len(nodes))
			for _, ni := range nodes {
				alive[ni.Run] = true
			}
			return alive, nil
		}
	}
	if adjust != nil {
		adjust(&bcfg)
	}
	b, err := beckn.New(bcfg, s.svc, s.commands)
	if err != nil {
		return nil, err
	}
	s.log.Info("Beckn BPP on", "subscriber_id", b.SubscriberID(), "bpp_uri", bcfg.URI, "units", bc.Units)
	return b, nil
}

// becknRoutes serves /beckn/{action}: the BPP, or a NACK that says how to
// turn it on.
func (s *Server) becknRoutes() {
	if s.beckn != nil {
		s.beckn.Register(s.mux)
		return
	}
	s.mux.HandleFunc("POST /beckn/{action}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(beckn.AckResponse{Timestamp: s.svc.Clock().Now().UTC().Format(time.RFC3339), AckStatus: beckn.NACK,
			Error: &beckn.Error{Code: beckn.CodeActionNotApplicable, Message: "this server's Beckn BPP is off; the operator turns it on with --beckn-key-file"}})
	})
}

// tariffPricer prices Beckn offers and sessions with the operator's
// tariffs where a connector has one, and at the flat --beckn-price-per-kwh
// where it has none.
type tariffPricer struct {
	flat    beckn.FlatPricer
	catalog *pricing.Catalog
	pricer  *pricing.Pricer
}

// Rate is the connector's tariff's energy price when it has one plain
// one (an element without restrictions with an ENERGY component), else the
// flat rate.
func (p tariffPricer) Rate(ctx context.Context, chargerID string, connectorID int) (beckn.Rate, error) {
	if p.catalog != nil {
		t, _, err := p.catalog.TariffFor(ctx, chargerID, connectorID)
		if err != nil {
			return beckn.Rate{}, err
		}
		if t != nil {
			for _, el := range t.Elements {
				if el.Restrictions != nil {
					continue
				}
				for _, pc := range el.PriceComponents {
					if pc.Type == tariff.DimEnergy {
						r := beckn.Rate{Currency: t.Currency, PerKWh: pc.Price.Decimal}
						if pc.VAT != nil {
							r.VATPercent = pc.VAT.Decimal
						}
						return r, nil
					}
				}
			}
		}
	}
	return p.flat.Rate(ctx, chargerID, connectorID)
}

// SessionCost is the tariff's price of the session, else the flat one.
func (p tariffPricer) SessionCost(ctx context.Context, sess charging.Session, samples []charging.MeterSample) (*tariff.Price, error) {
	if p.pricer != nil {
		pr, err := p.pricer.Price(ctx, sess, samples)
		if err != nil {
			return nil, err
		}
		if pr != nil {
			c := pr.TotalCost()
			return &c, nil
		}
	}
	return p.flat.SessionCost(ctx, sess, samples)
}

// becknMetrics adds the BPP's counters to /metrics.
func (s *Server) becknMetrics(counter func(name, help string, f func() float64)) {
	if s.beckn == nil {
		return
	}
	c := func(f func(beckn.Counters) int64) func() float64 {
		return func() float64 { return float64(f(s.beckn.Counters())) }
	}
	counter("beckn_requests_acked_total", "Beckn requests acknowledged.", c(func(x beckn.Counters) int64 { return x.Acked }))
	counter("beckn_requests_nacked_total", "Beckn requests refused with a NACK (signature, envelope, replay, overload).", c(func(x beckn.Counters) int64 { return x.Nacked }))
	counter("beckn_callbacks_delivered_total", "Signed on_* callbacks a BAP acknowledged.", c(func(x beckn.Counters) int64 { return x.CallbacksDelivered }))
	counter("beckn_callbacks_failed_total", "On_* callbacks given up after their ttl or refused by the BAP.", c(func(x beckn.Counters) int64 { return x.CallbacksFailed }))
	counter("beckn_dropped_total", "Callbacks and session changes dropped because a queue was full.", c(func(x beckn.Counters) int64 { return x.Dropped }))
}
