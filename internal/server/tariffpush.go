package server

import (
	"github.com/chargebridge/chargebridge/internal/ocpi"
)

// tariffPusher is the OCPI role's TariffPusher, which pushes the catalog's
// tariff changes (TariffChanged events) to eMSPs; nil without OCPI, a
// catalog or a store with an event port (the catalog then announces
// nothing either).
func (s *Server) tariffPusher() *ocpi.TariffPusher {
	ep := s.events()
	if s.ocpi == nil || s.catalog == nil || ep == nil {
		return nil
	}
	return s.ocpi.TariffPusher(ep)
}
