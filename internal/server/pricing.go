package server

import (
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/web"
)

// setupPricing builds the tariff catalog and the pricer on the store's
// documents (a store without them prices nothing) and lets the pricer
// hear of sessions that end.
func (s *Server) setupPricing(clock charging.Clock) {
	docs, err := s.svc.Docs()
	if err != nil {
		s.log.Warn("sessions are not priced: the store keeps no documents", "err", err)
		return
	}
	zone := time.UTC
	if s.cfg.TimeZone != "" {
		zone, _ = pricing.LoadZone(s.cfg.TimeZone) // Config.Validate checked it
	}
	s.catalog = pricing.NewCatalog(docs, s.store, clock, zone)
	if ep := s.events(); ep != nil {
		s.catalog.AnnounceTo(ep)
	}
	s.pricer = pricing.NewPricer(s.catalog, docs, s.store, clock, s.log)
}

// withPricing enables the API's tariff endpoints and session prices.
func (s *Server) withPricing(a *api.API) *api.API {
	if s.pricer == nil {
		return a
	}
	return a.WithPricing(s.catalog, s.pricer)
}

// webPricer is the dashboard's pricer (a nil interface when none).
func (s *Server) webPricer() web.Pricer {
	if s.pricer == nil {
		return nil
	}
	return s.pricer
}

// ocpiPricer is the OCPI module's pricer (a nil interface when none).
func (s *Server) ocpiPricer() ocpi.Pricer {
	if s.pricer == nil {
		return nil
	}
	return s.pricer
}

// ocpiCatalog gives the OCPI module the tariffs to publish and the
// chargers' sites (a nil interface when none).
func (s *Server) ocpiCatalog() ocpi.Catalog {
	if s.catalog == nil {
		return nil
	}
	return s.catalog
}

// Pricer returns the session pricer (nil when the store keeps no
// documents), for the OCPI and Beckn views.
func (s *Server) Pricer() *pricing.Pricer { return s.pricer }

// Catalog returns the tariffs, their assignments and the chargers'
// locations (nil when the store keeps no documents).
func (s *Server) Catalog() *pricing.Catalog { return s.catalog }
