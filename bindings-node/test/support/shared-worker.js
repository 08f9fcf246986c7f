'use strict';
// One of several worker processes on the same subscription (test/shared-subscription.test.js):
// loads STRATA_CONFIG, subscribes, prints `ready`, then one line per message it
// handled (`done <text>`); closes and exits when its stdin ends.

const { Infra } = require('../..');

async function main() {
  const infra = await Infra.load();
  const [topic, subscription] = process.argv.slice(2);
  infra.subscribe(topic, subscription, async (msg) => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    process.stdout.write(`done ${msg.text()}\n`);
  });
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    infra.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`close failed: ${err}\n`);
        process.exit(1);
      },
    );
  });
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
