package server

import (
	"context"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/web"
)

// webRoutes adds the dashboard at / (and its two API endpoints, the event
// stream and a session's views) and builds the operator login that guards
// the dashboard and the operator API.
func (s *Server) webRoutes() error {
	s.auth = web.NewAuth(s.cfg.APIToken, nil)
	d, err := web.New(web.Config{
		Service:         s.svc,
		Presence:        s.apiPresence(),
		Online:          s.onlineCount(),
		PresenceVersion: s.presenceVersion(),
		Auth:            s.auth,
		Pricer:          s.webPricer(),
		Sites:           s.webSites(),
		Log:             s.log,
		Catalog:         s.catalog,
		Outbox:          s.webOutbox(),
		Frames:          s.frames,
		Orders:          s.webOrders(),
		OCPI:            s.ocpi,
		Cluster:         clusterView{s},
		CPO:             s.cpoParty(),
		Security: func(ctx context.Context, id string) (security.View, error) {
			rec, err := s.guard.Record(ctx, id)
			return s.guard.View(rec), err
		},
		SecurityAll: func(ctx context.Context) ([]security.View, error) {
			recs, err := s.guard.Records(ctx)
			vs := make([]security.View, len(recs))
			for i, r := range recs {
				vs[i] = s.guard.View(r)
			}
			return vs, err
		},
	})
	if err != nil {
		return err
	}
	s.web = d
	d.Register(s.mux)
	return nil
}

// withAuth guards h with the operator token, and says at start when there
// is none.
func (s *Server) withAuth(h http.Handler) http.Handler {
	if s.auth.Open() {
		s.log.Info("no --api-token: the dashboard and the operator API are open to anyone on this machine (allowed on a loopback address only); set --api-token or CHARGEBRIDGE_API_TOKEN to require a login", "http", s.cfg.HTTP)
	}
	return s.auth.Wrap(h)
}

// webOutbox gives the alerts page the OCPI outboxes, when OCPI is on.
func (s *Server) webOutbox() web.OutboxStats {
	if s.ocpi == nil {
		return nil
	}
	return s.ocpi.OutboxStats
}

// webOrders gives the orders page the Beckn orders, when Beckn is on.
func (s *Server) webOrders() *web.Orders {
	if s.beckn == nil {
		return nil
	}
	return &web.Orders{List: s.beckn.Orders, Counters: s.beckn.Counters}
}
