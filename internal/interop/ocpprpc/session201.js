// An OCPP 2.0.1 transaction against a CSMS, driven by the third-party
// OCPP-J client ocpp-rpc in strict mode with protocol ocpp2.0.1: it
// validates what it sends and what it receives against its own copy of the
// official 2.0.1 schemas.
// Usage: node session201.js ws://127.0.0.1:PORT/ocpp STATION-ID
const { RPCClient } = require('ocpp-rpc');

async function main() {
  const [endpoint, identity] = process.argv.slice(2);
  const cli = new RPCClient({ endpoint, identity, protocols: ['ocpp2.0.1'], strictMode: true });
  await cli.connect();
  const now = () => new Date().toISOString();
  const out = { protocol: cli.protocol };
  const idToken = { idToken: 'RPC-201', type: 'ISO14443' };
  const reg = (kwh) => [{ timestamp: now(), sampledValue: [
    { value: kwh, measurand: 'Energy.Active.Import.Register', context: 'Sample.Periodic', unitOfMeasure: { unit: 'kWh' } },
  ] }];
  const tx = { transactionId: 'RPC-TX-1' };
  out.boot = await cli.call('BootNotification', { chargingStation: { model: 'interop', vendorName: 'ocpp-rpc' }, reason: 'PowerUp' });
  await cli.call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
  out.authorize = await cli.call('Authorize', { idToken });
  out.started = await cli.call('TransactionEvent', { eventType: 'Started', timestamp: now(), triggerReason: 'Authorized', seqNo: 0,
    transactionInfo: { ...tx, chargingState: 'Charging' }, idToken, evse: { id: 1, connectorId: 1 }, meterValue: reg(2) });
  await cli.call('TransactionEvent', { eventType: 'Updated', timestamp: now(), triggerReason: 'MeterValuePeriodic', seqNo: 1,
    transactionInfo: { ...tx, chargingState: 'Charging' }, meterValue: reg(5.5) });
  out.heartbeat = await cli.call('Heartbeat', {});
  await cli.call('TransactionEvent', { eventType: 'Ended', timestamp: now(), triggerReason: 'EVCommunicationLost', seqNo: 2,
    transactionInfo: { ...tx, chargingState: 'Idle', stoppedReason: 'EVDisconnected' }, meterValue: reg(9) });
  out.cert = await cli.call('GetCertificateStatus', { ocspRequestData: { hashAlgorithm: 'SHA256', issuerNameHash: 'a', issuerKeyHash: 'b', serialNumber: 'c', responderURL: 'http://ocsp.example' } });
  await cli.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
