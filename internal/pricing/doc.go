// Package pricing prices canonical charging sessions with the operator's
// OCPI tariffs: it keeps the tariffs, which connector uses which tariff, and
// each charger's location (its time zone) as documents in the core's
// DocStore (Catalog), and turns a session and its meter samples into what
// the tariff engine prices (Pricer, SessionInput).
//
// # Which tariff
//
// A connector's own assignment, else its charger's (connector 0: every
// connector of the charger), else the default tariff, else none: the
// session is then not priced and its views carry no total_cost. The tariff
// is evaluated in the time zone of the charger's location, or the server's
// --time-zone (UTC by default) when the operator set none.
//
// # From meter samples to the tariff engine
//
// Energy is the Energy.Active.Import.Register (canonical kWh, no phase, at
// the outlet as Observe counts it) minus the meter start, never below zero
// and never decreasing (a lower reading than an earlier one is taken as
// the earlier one, like Session.KWh takes the highest reading). The meter
// start is a reading at the session start and, once the session ended, the
// meter stop a reading at its end. Power is Power.Active.Import without a
// phase; current is Current.Import without a phase, else the sum of the
// L1, L2 and L3 values. Values reported at the same instant by different
// samples are merged. A sample without an energy reading gets the energy
// interpolated between its neighbours, so its power and current still
// count.
//
// Parking (OCPI PARKING_TIME: plugged in, the EV no longer takes energy) is
// derived from the samples, because the core keeps only a connector's
// latest status, not its SuspendedEV history: after energy first flowed,
// the time from one sample to the next is parking when the energy register
// did not increase and the first sample reported no power above
// IdlePowerKW (or no power at all). Any energy increase, or a reported
// power above IdlePowerKW, is charging. Before energy first flows the
// session counts as charging (the EV and the charger are still
// negotiating). For a running session, the time after the last sample
// keeps the last sample's status: parking when it reported no power and
// charging had started, charging when it reported power, and otherwise
// the status of the interval before it. A charger whose register counts in
// whole kWh and that reports no power is therefore seen parking between
// register steps; report power to avoid that.
//
// Reservations before a session are not priced, nor are reserved, pending
// and invalid sessions.
//
// # When
//
// Only on demand, for the views of one session (the API's single-session
// endpoint, the dashboard's session page and views): list endpoints show no
// total_cost. A running session (active or stopping) is priced as if it
// stopped at the clock's now (or at its last sample, if the charger's clock
// runs ahead), so its estimate grows while it runs. When a session ends the
// Pricer prices it once more (in the background, from the core's events,
// or at the first view if that came first) and stores the result as a
// session_price document: from then on its price is read back, so editing
// or deleting a tariff later does not change the price of a finished
// session. A session that ended without a tariff is stored as not priced,
// so adding a default tariff later does not price old sessions. A finished
// session whose last_updated changes (late telemetry) is priced again.
package pricing
