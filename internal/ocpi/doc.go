// Package ocpi is chargebridge's OCPI 2.2.1 CPO role: the objects it shares
// with eMSPs and roaming hubs (Session, CDR, Location, Tariff), built from
// the canonical session by pure view functions, and later the versions,
// credentials, module endpoints and push outbox.
package ocpi
