"use strict";
// 3. Receiving: peekLock vs receiveAndDelete, topic fan-out, competing consumers, subscribe(), drain.
const assert = require("node:assert/strict");
const Long = require("long");
const { test, useBroker, queue, topic, subscription, receiveN, sleep } = require("./support/broker");

const h = useBroker({
  queues: [
    queue("pl-q"),
    queue("rd-q"),
    queue("compete-q"),
    queue("subscribe-q"),
    queue("drain-q"),
    queue("wait-q"),
    queue("bulk-q"),
    queue("many-q"),
  ],
  topics: [topic("fan-t", [subscription("sub-a"), subscription("sub-b")])],
});

const T = { timeout: 90_000 };

async function peekAll(receiver) {
  return receiver.peekMessages(100, { fromSequenceNumber: Long.fromNumber(1) });
}

test("peekLock: a received message is locked (invisible to others) until completed, then gone", T, async () => {
  const client = h.client();
  await client.createSender("pl-q").sendMessages({ body: "locked", messageId: "pl-1" });
  const r1 = client.createReceiver("pl-q", { maxAutoLockRenewalDurationInMs: 0 });
  const [m] = await receiveN(r1, 1);
  assert.ok(m, "message not received");
  assert.equal(m.messageId, "pl-1");

  const client2 = h.client();
  const r2 = client2.createReceiver("pl-q");
  const other = await r2.receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(other.length, 0, "a locked message was delivered to a second receiver");

  await r1.completeMessage(m);
  const again = await r2.receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(again.length, 0, "completed message was delivered again");
  assert.equal((await peekAll(r2)).length, 0, "completed message is still in the queue");
});

test("receiveAndDelete: messages are removed on delivery and carry no lock token", T, async () => {
  const client = h.client();
  await client.createSender("rd-q").sendMessages([
    { body: 1, messageId: "rd-1" },
    { body: 2, messageId: "rd-2" },
    { body: 3, messageId: "rd-3" },
  ]);
  const r = client.createReceiver("rd-q", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, 3);
  assert.deepEqual(
    msgs.map((m) => m.messageId),
    ["rd-1", "rd-2", "rd-3"],
  );
  for (const m of msgs) assert.equal(m.lockToken, undefined);
  const more = await r.receiveMessages(3, { maxWaitTimeInMs: 1000 });
  assert.equal(more.length, 0, "receiveAndDelete left messages behind");
  assert.equal((await peekAll(r)).length, 0);
});

test("topic fan-out: every subscription gets its own copy", T, async () => {
  const client = h.client();
  const ids = ["fan-1", "fan-2", "fan-3"];
  await client.createSender("fan-t").sendMessages(ids.map((id) => ({ body: id, messageId: id })));
  for (const sub of ["sub-a", "sub-b"]) {
    const r = client.createReceiver("fan-t", sub);
    const msgs = await receiveN(r, 3);
    assert.deepEqual(
      msgs.map((m) => m.messageId),
      ids,
      `subscription ${sub}`,
    );
    for (const m of msgs) await r.completeMessage(m);
    const more = await r.receiveMessages(1, { maxWaitTimeInMs: 500 });
    assert.equal(more.length, 0, `subscription ${sub} got extra messages`);
  }
});

test("two competing receivers split N messages: none lost, none duplicated", T, async () => {
  const N = 40;
  const client = h.client();
  const sender = client.createSender("compete-q");
  const batch = await sender.createMessageBatch();
  for (let i = 0; i < N; i++) assert.ok(batch.tryAddMessage({ body: i, messageId: `c-${i}` }));
  await sender.sendMessages(batch);

  const clientB = h.client();
  const receivers = [client.createReceiver("compete-q"), clientB.createReceiver("compete-q")];
  const got = [[], []];
  const seen = () => got[0].length + got[1].length;
  const deadline = Date.now() + 30_000;
  await Promise.all(
    receivers.map(async (r, idx) => {
      while (seen() < N && Date.now() < deadline) {
        const msgs = await r.receiveMessages(5, { maxWaitTimeInMs: 1000 });
        for (const m of msgs) {
          got[idx].push(m.messageId);
          await sleep(20); // simulate work so both receivers are busy at the same time
          await r.completeMessage(m);
        }
      }
    }),
  );
  const all = [...got[0], ...got[1]];
  assert.equal(new Set(all).size, all.length, `duplicates delivered: ${all.length - new Set(all).size}`);
  assert.equal(all.length, N, `received ${all.length}/${N}`);
  assert.ok(got[0].length > 0 && got[1].length > 0, `not split: ${got[0].length} / ${got[1].length}`);
});

test("subscribe() with maxConcurrentCalls 4 processes all messages, at most 4 at a time, and autoCompletes", T, async () => {
  const N = 20;
  const client = h.client();
  await client.createSender("subscribe-q").sendMessages([...Array(N).keys()].map((i) => ({ body: i, messageId: `s-${i}` })));
  const r = client.createReceiver("subscribe-q");
  const ids = new Set();
  let inFlight = 0;
  let maxInFlight = 0;
  const errors = [];
  let done;
  const allDone = new Promise((res) => (done = res));
  const sub = r.subscribe(
    {
      async processMessage(m) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(150);
        ids.add(m.messageId);
        inFlight--;
        if (ids.size >= N) done();
      },
      async processError(args) {
        errors.push(args.error);
      },
    },
    { maxConcurrentCalls: 4 },
  );
  await Promise.race([allDone, sleep(30_000)]);
  await sleep(500); // let the last autoComplete dispositions settle
  await sub.close();
  assert.equal(ids.size, N, `processed ${ids.size}/${N}; errors: ${errors.map((e) => e.message).join("; ")}`);
  assert.ok(maxInFlight <= 4, `maxConcurrentCalls exceeded: ${maxInFlight}`);
  assert.ok(maxInFlight >= 2, `messages were not processed concurrently (max in flight ${maxInFlight})`);
  assert.deepEqual(errors, []);
  const left = await peekAll(r);
  assert.equal(left.length, 0, `${left.length} messages left after autoComplete`);
});

test("drain: an empty receiveMessages returns on time and the broker answers the drain (link stays open)", T, async () => {
  const client = h.client();
  const r = client.createReceiver("drain-q");
  const t0 = Date.now();
  const none = await r.receiveMessages(5, { maxWaitTimeInMs: 1000 });
  const took = Date.now() - t0;
  assert.equal(none.length, 0);
  assert.ok(took < 3000, `empty receive took ${took} ms`);
  // After maxWaitTimeInMs the SDK sends flow(drain=true) and waits for the broker's flow(drain=true, credit 0).
  // If the broker never answers, the SDK closes the receiver link after 200 ms (BatchingReceiverLite.tryDrainReceiver).
  const link = r._batchingReceiver;
  assert.ok(link, "SDK internals changed: no _batchingReceiver");
  const name = link.name;
  assert.equal(link.isOpen(), true, "receiver link was closed: the broker did not answer flow(drain=true)");
  assert.equal(link.link.credit, 0, "credit not drained to 0");

  await client.createSender("drain-q").sendMessages({ body: "after-drain", messageId: "after-drain-1" });
  const [m] = await receiveN(r, 1);
  assert.ok(m, "message after a drain not delivered");
  assert.equal(m.body, "after-drain");
  assert.equal(r._batchingReceiver.name, name, "receiver link had to be re-created");
  await r.completeMessage(m);
});

test("a message sent while a receiver is waiting is delivered promptly", T, async () => {
  const client = h.client();
  const r = client.createReceiver("wait-q", { receiveMode: "receiveAndDelete" });
  const pending = r.receiveMessages(1, { maxWaitTimeInMs: 15_000 });
  await sleep(700);
  const sentAt = Date.now();
  await client.createSender("wait-q").sendMessages({ body: "ping" });
  const msgs = await pending;
  const latency = Date.now() - sentAt;
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].body, "ping");
  assert.ok(latency < 3000, `waiting receiver got the message ${latency} ms after send`);
});

test("3000 small messages are all delivered exactly once (flow control beyond rhea's 2048-transfer session window)", T, async () => {
  const N = 3000;
  const client = h.client();
  const sender = client.createSender("bulk-q");
  let batch = await sender.createMessageBatch();
  for (let i = 0; i < N; i++) {
    const msg = { body: i, messageId: `bulk-${i}` };
    if (!batch.tryAddMessage(msg)) {
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      assert.ok(batch.tryAddMessage(msg));
    }
  }
  await sender.sendMessages(batch);
  const r = client.createReceiver("bulk-q", { receiveMode: "receiveAndDelete" });
  const seen = new Set();
  let dups = 0;
  const deadline = Date.now() + 60_000;
  while (seen.size < N && Date.now() < deadline) {
    const msgs = await r.receiveMessages(500, { maxWaitTimeInMs: 2000 });
    for (const m of msgs) {
      if (seen.has(m.body)) dups++;
      seen.add(m.body);
    }
  }
  assert.equal(dups, 0, `${dups} duplicates`);
  assert.equal(seen.size, N, `received ${seen.size}/${N}`);
});

test("20 clients on 20 connections send concurrently; every message arrives once", T, async () => {
  const K = 20;
  const perClient = 10;
  const clients = Array.from({ length: K }, () => h.client());
  await Promise.all(
    clients.map((c, k) =>
      c.createSender("many-q").sendMessages(Array.from({ length: perClient }, (_, i) => ({ body: `${k}-${i}`, messageId: `many-${k}-${i}` }))),
    ),
  );
  const r = h.client().createReceiver("many-q", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, K * perClient, { totalMs: 30_000 });
  const ids = msgs.map((m) => m.messageId);
  assert.equal(new Set(ids).size, ids.length, "duplicates");
  assert.equal(ids.length, K * perClient, `received ${ids.length}/${K * perClient}`);
  // per-sender order is kept (FIFO per queue)
  for (let k = 0; k < K; k++) {
    const mine = msgs.filter((m) => m.body.startsWith(`${k}-`)).map((m) => Number(m.body.split("-")[1]));
    assert.deepEqual(mine, [...Array(perClient).keys()], `client ${k} order`);
  }
});
