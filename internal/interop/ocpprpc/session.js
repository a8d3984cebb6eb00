// A charging session against a central system, driven by the third-party
// OCPP-J client ocpp-rpc (in strict mode: it validates what it sends and
// what it receives against its own copy of the OCPP 1.6 schemas). A second,
// non-strict connection then sends an action no schema knows.
// Usage: node session.js ws://127.0.0.1:PORT/ocpp CHARGER-ID
const { RPCClient } = require('ocpp-rpc');

async function main() {
  const [endpoint, identity] = process.argv.slice(2);
  const cli = new RPCClient({ endpoint, identity, protocols: ['ocpp1.6'], strictMode: true });
  cli.handle('RemoteStopTransaction', () => ({ status: 'Accepted' }));
  await cli.connect();
  const now = () => new Date().toISOString();
  const out = {};
  out.boot = await cli.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop' });
  await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
  out.authorize = await cli.call('Authorize', { idTag: 'RPC-TAG' });
  out.start = await cli.call('StartTransaction', { connectorId: 1, idTag: 'RPC-TAG', meterStart: 2000, timestamp: now() });
  const tx = out.start.transactionId;
  for (const wh of [4000, 6500]) {
    await cli.call('MeterValues', {
      connectorId: 1, transactionId: tx,
      meterValue: [{ timestamp: now(), sampledValue: [
        { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
        { value: '11000', measurand: 'Power.Active.Import', unit: 'W' },
      ] }],
    });
  }
  out.heartbeat = await cli.call('Heartbeat', {});
  out.stop = await cli.call('StopTransaction', { transactionId: tx, meterStop: 9000, timestamp: now(), reason: 'EVDisconnected', idTag: 'RPC-TAG' });
  await cli.close();
  // A call the central system does not know must come back as a CALLERROR.
  const loose = new RPCClient({ endpoint, identity, protocols: ['ocpp1.6'] });
  await loose.connect();
  try {
    await loose.call('NoSuchAction', {});
    out.unknown = 'answered';
  } catch (err) {
    out.unknown = err.rpcErrorCode || String(err);
  }
  await loose.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
