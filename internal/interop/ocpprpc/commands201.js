// An OCPP 2.0.1 station, driven by the third-party OCPP-J client ocpp-rpc
// in strict mode with protocol ocpp2.0.1, that answers the CSMS's commands
// (every inbound call is validated against ocpp-rpc's own copy of the
// official schemas before it reaches a handler). It prints one JSON line
// per call it got ({"method", "params"}), and "ready" once booted; it ends
// when its standard input closes.
//
// Answers: RequestStartTransaction Accepted, then a TransactionEvent
// Started with the remoteStartId; RequestStopTransaction Accepted, then
// Ended; ReserveNow Accepted (Occupied while a transaction runs);
// CancelReservation Accepted for a reservation it holds, else Rejected;
// UnlockConnector Unlocked on EVSE 1, UnknownConnector elsewhere; Reset
// Accepted (Immediate) or Scheduled (OnIdle); ChangeAvailability Accepted;
// SetChargingProfile Accepted; GetVariables: SmartChargingCtrlr RateUnit
// "A,W", ProfileStackLevel 3.
// Usage: node commands201.js ws://127.0.0.1:PORT/ocpp STATION-ID
const { RPCClient } = require('ocpp-rpc');

async function main() {
  const [endpoint, identity] = process.argv.slice(2);
  const cli = new RPCClient({ endpoint, identity, protocols: ['ocpp2.0.1'], strictMode: true });
  const now = () => new Date().toISOString();
  const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  const reservations = new Set();
  let tx = null;
  let seq = 0;
  const reg = (kwh) => [{ timestamp: now(), sampledValue: [
    { value: kwh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'kWh' } },
  ] }];
  const later = (f) => setTimeout(() => f().catch((err) => { console.error(err); process.exit(1); }), 10);

  cli.handle(({ method, params }) => {
    print({ method, params });
    switch (method) {
      case 'RequestStartTransaction':
        tx = { transactionId: 'CMD-TX-' + params.remoteStartId };
        seq = 0;
        later(async () => {
          await cli.call('TransactionEvent', { eventType: 'Started', timestamp: now(), triggerReason: 'RemoteStart', seqNo: seq++,
            transactionInfo: { ...tx, chargingState: 'Charging', remoteStartId: params.remoteStartId },
            idToken: params.idToken, evse: { id: params.evseId || 1, connectorId: 1 }, meterValue: reg(1) });
          print({ sent: 'Started' });
        });
        return { status: 'Accepted' };
      case 'RequestStopTransaction':
        if (!tx || params.transactionId !== tx.transactionId) return { status: 'Rejected' };
        later(async () => {
          await cli.call('TransactionEvent', { eventType: 'Ended', timestamp: now(), triggerReason: 'RemoteStop', seqNo: seq++,
            transactionInfo: { ...tx, chargingState: 'Idle', stoppedReason: 'Remote' }, meterValue: reg(4) });
          tx = null;
          print({ sent: 'Ended' });
        });
        return { status: 'Accepted' };
      case 'ReserveNow':
        if (tx) return { status: 'Occupied' };
        reservations.add(params.id);
        return { status: 'Accepted' };
      case 'CancelReservation':
        return { status: reservations.delete(params.reservationId) ? 'Accepted' : 'Rejected' };
      case 'UnlockConnector':
        return { status: params.evseId === 1 ? 'Unlocked' : 'UnknownConnector' };
      case 'Reset':
        return { status: params.type === 'Immediate' ? 'Accepted' : 'Scheduled' };
      case 'ChangeAvailability':
        return { status: 'Accepted' };
      case 'SetChargingProfile':
        return { status: 'Accepted' };
      case 'GetVariables':
        return { getVariableResult: params.getVariableData.map((d) => {
          const values = { RateUnit: 'A,W', ProfileStackLevel: '3' };
          const v = d.component.name === 'SmartChargingCtrlr' ? values[d.variable.name] : undefined;
          return v === undefined
            ? { attributeStatus: 'UnknownVariable', component: d.component, variable: d.variable }
            : { attributeStatus: 'Accepted', attributeValue: v, component: d.component, variable: d.variable };
        }) };
    }
    throw new Error('unexpected ' + method);
  });
  cli.on('strictValidationFailure', (e) => print({ invalid: e.method, error: String(e.error && e.error.message) }));
  await cli.connect();
  await cli.call('BootNotification', { chargingStation: { model: 'interop', vendorName: 'ocpp-rpc' }, reason: 'PowerUp' });
  await cli.call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
  print('ready');
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await cli.close();
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
