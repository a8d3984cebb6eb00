// Package tariff is the OCPI 2.2.1 tariff model and the engine that prices
// charging sessions with it.
//
// The model (Tariff, TariffElement, PriceComponent, TariffRestrictions,
// Price, ChargingPeriod, CdrDimension, …) reads and writes the spec's JSON
// exactly; money and every other OCPI number is a decimal (Number), never a
// float. Validate reports every problem with its JSON path.
//
// PriceSession prices a session from what was observed — meter samples,
// charging/parking status changes, an optional reservation — and returns
// the OCPI charging periods, a cost breakdown and the CDR totals. It prices
// a running session as if it stopped at the given now, so the same call
// serves the live estimate and the final price. PriceCDR prices the
// charging periods of an existing CDR. Both are pure: time and zone are
// arguments, there is no package state.
//
// # Choices where the spec leaves room
//
// Rounding. The spec leaves rounding to law and contract (mod_tariffs: "no
// parameters related to price rounding"). All arithmetic is exact: amounts
// are decimals, and time costs are kept scaled by 3600 so a price per hour
// times seconds needs no division. VAT is computed on these unrounded
// amounts, per price component. Money is rounded at one point only: when
// the totals (Result.Totals, which CDRs and sessions carry) are made, each
// total is rounded on its own from its exact value, half away from zero, to
// the currency's minor unit (MinorUnits: 2 decimals for EUR, 0 for JPY, 3
// for KWD). Why: an invoice is in the minor unit, the spec's worked
// examples show cents rounded half up (5.625 → 5.63), and the independent
// reference engines (ocpi-tariffs, ocpi-kit's default PricingPolicy) round
// the final totals to the currency's decimals, half away from zero, which
// is also what invoicing law in most of Europe assumes. Rounding 4-decimal
// totals again would round twice (2.2228 → 2.22 but 0.0049… → 0.0050 →
// 0.01); rounding from the exact value does not. So total_cost may differ
// by a cent from the sum of the rounded parts. Cost lines, the min/max
// Adjustment and Result.TotalsRoundedTo(WirePlaces) stay at 4 decimals
// (WirePlaces, the OCPI number precision) for explanation and tests.
// total_time is the session's real duration: step_size changes only what
// is billed (Line.Quantity), never the reported quantities.
// Quantities (kWh, hours) are also given to 4 decimals; a period's volume
// is the difference of the rounded running totals, so periods add up
// exactly to the totals. Internally, energy interpolated between samples is
// kept to 12 decimals of a kWh, and derived power to 6 decimals of a kW.
//
// step_size. Applied once per session and dimension group, to the session
// total, never per period (mod_cdrs "step_size"):
//   - ENERGY: the energy billed under any ENERGY component is rounded up to
//     the step (in Wh) of the last ENERGY component that billed energy.
//   - TIME and PARKING_TIME together: the last component of either that
//     billed time decides; the session total of its own dimension (the time
//     billed under components of that dimension) is rounded up to its step
//     (in seconds). Charging time followed by parking is therefore not
//     rounded. If charging resumes after parking, the charging time is
//     rounded and the parking time is not.
//   - Reservation TIME is rounded on its own, with the step of its last
//     component (the spec's reservation examples round it even when a
//     session follows).
//
// The rounding difference is billed in the last segment, at its price. A
// step_size of 0 means no rounding; step_size 1 still rounds up to whole
// Wh or seconds, as the spec's 115.2 Wh example requires. FLAT ignores it.
// A total that is not positive is not rounded.
//
// Which element applies. For each dimension separately, the first element
// in list order that has a component for that dimension and whose
// restrictions all hold. Elements with a reservation restriction apply
// only to the reservation, and elements without one only to the session
// (otherwise tariff 15's unrestricted FLAT would be billed twice). For an
// expired reservation, RESERVATION_EXPIRES elements are tried before
// RESERVATION elements, whatever their order. Two components of one
// dimension in one element are a validation error.
//
// No element matches. The dimension costs nothing for that time, and its
// *_cost total is left out if no component of its kind was ever active.
//
// FLAT. Due once for the session and once for a reservation: the FLAT
// component of the first segment that has an active one (normally the
// start). The session's goes to total_fixed_cost, the reservation's to
// total_reservation_cost.
//
// VAT. Per component: incl = excl × (1 + vat/100); a component without vat
// has incl = excl. incl_vat is always reported.
//
// min_price and max_price. Applied to total_cost (reservation costs
// included), excl. and incl. VAT independently, as the spec's notes say. A
// limit without incl_vat bounds only the excl. amount. The component
// totals are never adjusted; Result.Adjustment says by how much total_cost
// was. A running estimate applies them too.
//
// Restrictions in time. Evaluated in the location's zone. A session is cut
// at every instant a restriction could change (local wall-clock bounds and
// midnights per UTC-offset span, DST transitions, duration bounds, kWh
// thresholds, samples, status changes), and each piece is evaluated at its
// midpoint. start_time is inclusive, end_time exclusive; end_time before
// start_time wraps past midnight; end_time 00:00 is the end of the day;
// start_time equal to end_time means the whole day. Each restriction is
// evaluated at the instant on its own: a 22:00–06:00 window with
// day_of_week FRIDAY does not extend into Saturday morning. A wall time
// skipped by DST takes effect at the jump; a repeated one applies twice.
// start_date is inclusive, end_date exclusive, both local.
//
// kWh, power, current, duration. min_kwh/max_kwh compare the energy charged
// since the session started (linear between samples; the crossing instant
// is interpolated). Power and current are the values reported by the
// latest sample (sample and hold); a sample without power gets the average
// power between its neighbours (after the last sample, the last average).
// While parking, power and current are 0. A current or power restriction
// does not hold when the value is unknown (no sample reported it).
// min_duration/max_duration count from the start of the session, or of the
// reservation for reservation elements.
//
// Charging and parking. The caller says when the EV stops requesting power
// (StatusChange to Parking), per the corrected PARKING_TIME definition.
// TIME is billed only while charging, PARKING_TIME only while parking,
// ENERGY whenever energy flows.
//
// Reservations. A reservation ends when the session starts. Its time is the
// RESERVATION_TIME dimension and is not part of total_time.
//
// Tariff validity. start_date_time/end_date_time are checked against the
// start of the session (or reservation); the tariff valid then prices the
// whole session, as consumer law commonly requires. A tariff's type
// (AD_HOC_PAYMENT, PROFILE_*) is not checked: choosing the tariff is the
// caller's job.
//
// Charging periods. A new period starts when the phase (reservation or
// session), charging/parking, or the active ENERGY, TIME or PARKING_TIME
// component changes; a change of FLAT component does not start one.
// Dimensions: ENERGY (charging periods, or any with energy), TIME,
// PARKING_TIME or RESERVATION_TIME, and MAX/MIN_POWER and MAX/MIN_CURRENT
// when known. Volumes are measured quantities, not billed ones.
//
// Pricing a CDR. Each period is taken as homogeneous (the spec requires a
// new period at every price change) and evaluated at its start. Its TIME,
// PARKING_TIME and RESERVATION_TIME volumes are the time quantities; a
// period with none of them counts as charging for its whole length. Power
// is MAX_POWER, else POWER, else MIN_POWER, else ENERGY/TIME; current is
// MAX_CURRENT, else CURRENT, else MIN_CURRENT; kWh is the ENERGY of the
// earlier periods. A period without tariff_id is priced with the given
// tariff, one naming another tariff is an error, and so is a currency
// mismatch. A CDR with only RESERVATION_TIME is an expired reservation.
// When no period has an ENERGY dimension, total_energy is the CDR's own.
// OCPI 2.2.1's CdrLocation has no time_zone; CDRTimeZone reads one if a
// CPO added it.
//
// Validation. Validate checks everything; PriceSession and PriceCDR check
// only what pricing needs, so that the spec's own PUT example (which lacks
// the required last_updated) can be priced. Numbers given as JSON strings
// and DateTimes with an explicit offset are accepted and written back in
// canonical form; numbers must be below 10^15 with at most 32 decimals.
package tariff
