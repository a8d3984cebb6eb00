// Three 11 kW chargers on one site, each its own ocpp-rpc client in strict
// mode (it validates every message both ways against its own OCPP 1.6
// schemas). Each obeys the charging profiles it is sent: it draws the
// lowest of 11 kW and the limit in force (TxProfile of its transaction,
// else TxDefaultProfile), reporting Power.Active.Import and the energy
// register every 200 ms. CP 1 takes limits in A only, the others also in W.
//
// Scenario: all three start charging; once every limit in force is about
// 22/3 kW (or 30 s passed), charger 2 stops; once the other two are back at
// 11 kW (or 30 s passed), everything stops. Every 200 ms the script records
// each charger's limit and draw. It prints one JSON line: {samples:[{t,
// phase, draw:[w,w,w], limit:[w,w,w]}], rejected:n}.
// Usage: node loadsite.js ws://127.0.0.1:PORT/ocpp ID1 ID2 ID3
const { RPCClient } = require('ocpp-rpc');

const MAX_W = 11000;
const now = () => new Date().toISOString();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function toW(limit, unit, phases) {
  return unit === 'A' ? limit * 230 * (phases || 3) : limit;
}

class Charger {
  constructor(endpoint, id, units) {
    this.id = id;
    this.units = units;
    this.tx = null;
    this.txProfile = null; // {id, w, tx}
    this.defaultProfile = null;
    this.registerWh = 1000;
    this.rejected = 0;
    this.cli = new RPCClient({ endpoint, identity: id, protocols: ['ocpp1.6'], strictMode: true });
    this.cli.handle('GetConfiguration', ({ params }) => {
      const keys = {
        ChargingScheduleAllowedChargingRateUnit: this.units,
        ChargeProfileMaxStackLevel: '3',
      };
      const want = params.key && params.key.length ? params.key : Object.keys(keys);
      return {
        configurationKey: want.filter((k) => k in keys).map((k) => ({ key: k, readonly: true, value: keys[k] })),
        unknownKey: want.filter((k) => !(k in keys)),
      };
    });
    this.cli.handle('SetChargingProfile', ({ params }) => {
      const p = params.csChargingProfiles;
      const s = p.chargingSchedule;
      if (s.chargingRateUnit === 'W' && !this.units.includes('Power')) { this.rejected++; return { status: 'Rejected' }; }
      const per = s.chargingSchedulePeriod[0];
      const w = toW(per.limit, s.chargingRateUnit, per.numberPhases);
      if (p.chargingProfilePurpose === 'TxProfile') {
        if (this.tx === null || (p.transactionId !== undefined && p.transactionId !== this.tx)) { this.rejected++; return { status: 'Rejected' }; }
        this.txProfile = { w, tx: this.tx };
      } else if (p.chargingProfilePurpose === 'TxDefaultProfile') {
        this.defaultProfile = { w };
      } else {
        this.rejected++;
        return { status: 'Rejected' };
      }
      return { status: 'Accepted' };
    });
    this.cli.handle('GetCompositeSchedule', () => ({ status: 'Rejected' }));
  }

  limitW() {
    if (this.tx !== null && this.txProfile && this.txProfile.tx === this.tx) return this.txProfile.w;
    if (this.defaultProfile) return this.defaultProfile.w;
    return MAX_W;
  }

  drawW() { return this.tx === null ? 0 : Math.min(MAX_W, this.limitW()); }

  async boot() {
    await this.cli.connect();
    await this.cli.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'loadsite' });
    await this.cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
  }

  async start() {
    await this.cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    const res = await this.cli.call('StartTransaction', { connectorId: 1, idTag: 'TAG-' + this.id, meterStart: Math.round(this.registerWh), timestamp: now() });
    this.tx = res.transactionId;
    await this.cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
  }

  async meter(dtSec) {
    if (this.tx === null) return;
    const w = this.drawW();
    this.registerWh += (w * dtSec) / 3600;
    await this.cli.call('MeterValues', {
      connectorId: 1, transactionId: this.tx,
      meterValue: [{ timestamp: now(), sampledValue: [
        { value: String(Math.round(this.registerWh)), measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
        { value: String(Math.round(w)), measurand: 'Power.Active.Import', unit: 'W' },
      ] }],
    });
  }

  async stop() {
    const tx = this.tx;
    this.tx = null;
    this.txProfile = null;
    await this.cli.call('StopTransaction', { transactionId: tx, meterStop: Math.round(this.registerWh), timestamp: now(), reason: 'EVDisconnected' });
    await this.cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
  }
}

async function main() {
  const [endpoint, ...ids] = process.argv.slice(2);
  const cps = ids.map((id, i) => new Charger(endpoint, id, i === 0 ? 'Current' : 'Current,Power'));
  for (const c of cps) await c.boot();
  for (const c of cps) await c.start();
  const samples = [];
  const t0 = Date.now();
  let phase = 'shared';
  let phaseStart = Date.now();
  let settled = 0;
  for (let i = 0; i < 400; i++) {
    await sleep(200);
    for (const c of cps) await c.meter(0.2);
    const limit = cps.map((c) => (c.tx === null ? null : c.limitW()));
    const draw = cps.map((c) => c.drawW());
    samples.push({ t: (Date.now() - t0) / 1000, phase, limit, draw });
    const active = cps.filter((c) => c.tx !== null);
    const target = phase === 'shared' ? 22000 / 3 : MAX_W;
    // 10.6 A on three phases is 7314 W: allow the A rounding.
    const ok = active.every((c) => Math.abs(c.limitW() - target) <= 70);
    settled = ok ? settled + 1 : 0;
    const timedOut = Date.now() - phaseStart > 30000;
    if (phase === 'shared' && (settled >= 5 || timedOut)) {
      await cps[1].stop();
      phase = 'two';
      phaseStart = Date.now();
      settled = 0;
    } else if (phase === 'two' && (settled >= 5 || timedOut)) {
      break;
    }
  }
  for (const c of cps) if (c.tx !== null) await c.stop();
  for (const c of cps) await c.cli.close();
  process.stdout.write(JSON.stringify({ samples, rejected: cps.reduce((n, c) => n + c.rejected, 0) }) + '\n');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
