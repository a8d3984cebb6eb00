// Connects to a central system as one charger with ocpp-rpc's own security
// options (Basic auth password, TLS CA, client certificate), sends a
// BootNotification when let in, and prints one JSON line:
// {"connected":true,"boot":"Accepted"} or {"connected":false,"error":"…"}.
// Usage: node auth.js URL CHARGER-ID [--password P] [--ca FILE] [--cert FILE --key FILE]
const fs = require('fs');
const { RPCClient } = require('ocpp-rpc');

async function main() {
  const [endpoint, identity, ...rest] = process.argv.slice(2);
  const opt = {};
  for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = rest[i + 1];
  const wsOpts = {};
  if (opt.ca) wsOpts.ca = fs.readFileSync(opt.ca);
  if (opt.cert) wsOpts.cert = fs.readFileSync(opt.cert);
  if (opt.key) wsOpts.key = fs.readFileSync(opt.key);
  const cli = new RPCClient({
    endpoint, identity, protocols: ['ocpp1.6'], strictMode: true, reconnect: false,
    password: opt.password, wsOpts,
  });
  try {
    await cli.connect();
  } catch (err) {
    process.stdout.write(JSON.stringify({ connected: false, error: String(err && err.message || err) }) + '\n');
    return;
  }
  const boot = await cli.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop' });
  await cli.close();
  process.stdout.write(JSON.stringify({ connected: true, boot: boot.status }) + '\n');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
