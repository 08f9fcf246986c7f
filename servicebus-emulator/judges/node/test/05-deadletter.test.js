"use strict";
// 5. Broker-initiated dead-lettering: MaxDeliveryCount exceeded, TTL expiry.
// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues
const assert = require("node:assert/strict");
const { test, useBroker, queue, topic, subscription, receiveN, sleep } = require("./support/broker");

const h = useBroker({
  queues: [
    queue("mdc-q", { MaxDeliveryCount: 3, LockDuration: "PT5S" }),
    queue("mdc-expire-q", { MaxDeliveryCount: 2, LockDuration: "PT5S" }),
    queue("ttl-dl-q", { DeadLetteringOnMessageExpiration: true }),
    queue("ttl-drop-q", { DeadLetteringOnMessageExpiration: false }),
    queue("default-ttl-q", { DeadLetteringOnMessageExpiration: true, DefaultMessageTimeToLive: "PT2S" }),
    queue("peek-dlq-q"),
  ],
  topics: [
    topic("dl-t", [subscription("dl-s", { MaxDeliveryCount: 2, LockDuration: "PT5S" })]),
  ],
});

const T = { timeout: 90_000 };
const NO_AUTORENEW = { maxAutoLockRenewalDurationInMs: 0 };

test("MaxDeliveryCount 3: after 3 abandoned deliveries the message is dead-lettered with reason MaxDeliveryCountExceeded", T, async () => {
  const client = h.client();
  await client.createSender("mdc-q").sendMessages({ body: "poison", messageId: "poison-1" });
  const r = client.createReceiver("mdc-q", NO_AUTORENEW);
  const counts = [];
  for (let i = 0; i < 3; i++) {
    const [m] = await receiveN(r, 1, { totalMs: 5000 });
    assert.ok(m, `delivery #${i + 1} did not happen`);
    counts.push(m.deliveryCount);
    await r.abandonMessage(m);
  }
  assert.deepEqual(counts, [0, 1, 2]);
  const more = await r.receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(more.length, 0, `message delivered a 4th time (deliveryCount ${more[0]?.deliveryCount})`);

  const dlq = client.createReceiver("mdc-q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1);
  assert.ok(d, "message not in the dead-letter queue");
  assert.equal(d.messageId, "poison-1");
  assert.equal(d.body, "poison");
  assert.equal(d.deadLetterReason, "MaxDeliveryCountExceeded");
  assert.equal(typeof d.deadLetterErrorDescription, "string");
});

test("MaxDeliveryCount also counts lock expiries", T, async () => {
  const client = h.client();
  await client.createSender("mdc-expire-q").sendMessages({ body: "slow", messageId: "slow-1" });
  for (let i = 0; i < 2; i++) {
    const r = client.createReceiver("mdc-expire-q", NO_AUTORENEW);
    const [m] = await receiveN(r, 1, { totalMs: 10_000 });
    assert.ok(m, `delivery #${i + 1} did not happen`);
    assert.equal(m.deliveryCount, i);
    await sleep(Math.max(0, m.lockedUntilUtc.getTime() - Date.now()) + 1000);
    await r.close();
  }
  const r = client.createReceiver("mdc-expire-q", NO_AUTORENEW);
  const more = await r.receiveMessages(1, { maxWaitTimeInMs: 2000 });
  assert.equal(more.length, 0, "message delivered more than MaxDeliveryCount times");
  const dlq = client.createReceiver("mdc-expire-q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1);
  assert.ok(d, "message not in the dead-letter queue");
  assert.equal(d.deadLetterReason, "MaxDeliveryCountExceeded");
});

test("expired message goes to the DLQ with reason TTLExpiredException when DeadLetteringOnMessageExpiration", T, async () => {
  const client = h.client();
  await client.createSender("ttl-dl-q").sendMessages({ body: "short-lived", messageId: "ttl-1", timeToLive: 1000 });
  await sleep(2500);
  // Expired messages are moved when a receiver pulls from the main queue (see the DLQ page above).
  const main = await client.createReceiver("ttl-dl-q").receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(main.length, 0, "an expired message was delivered");
  const dlq = client.createReceiver("ttl-dl-q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1, { totalMs: 10_000 });
  assert.ok(d, "expired message not dead-lettered");
  assert.equal(d.messageId, "ttl-1");
  assert.equal(d.deadLetterReason, "TTLExpiredException");
});

test("expired message is dropped (not dead-lettered) when DeadLetteringOnMessageExpiration is false", T, async () => {
  const client = h.client();
  await client.createSender("ttl-drop-q").sendMessages({ body: "gone", timeToLive: 1000 });
  await sleep(2500);
  const main = await client.createReceiver("ttl-drop-q").receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(main.length, 0, "an expired message was delivered");
  const dlq = client.createReceiver("ttl-drop-q", { subQueueType: "deadLetter" });
  const d = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(d.length, 0, "expired message was dead-lettered although DeadLetteringOnMessageExpiration=false");
});

test("queue DefaultMessageTimeToLive applies to messages sent without timeToLive", T, async () => {
  const client = h.client();
  await client.createSender("default-ttl-q").sendMessages({ body: "default-ttl", messageId: "dttl-1" });
  await sleep(3500);
  const main = await client.createReceiver("default-ttl-q").receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(main.length, 0, "message outlived the queue's DefaultMessageTimeToLive (PT2S)");
  const dlq = client.createReceiver("default-ttl-q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1, { totalMs: 10_000 });
  assert.ok(d, "expired message not dead-lettered");
  assert.equal(d.deadLetterReason, "TTLExpiredException");
});

test("subscription dead-letter queue: MaxDeliveryCount on a subscription", T, async () => {
  const client = h.client();
  await client.createSender("dl-t").sendMessages({ body: "sub-poison", messageId: "sp-1" });
  const r = client.createReceiver("dl-t", "dl-s", NO_AUTORENEW);
  for (let i = 0; i < 2; i++) {
    const [m] = await receiveN(r, 1, { totalMs: 5000 });
    assert.ok(m, `delivery #${i + 1} did not happen`);
    await r.abandonMessage(m);
  }
  assert.equal((await r.receiveMessages(1, { maxWaitTimeInMs: 1500 })).length, 0);
  const dlq = client.createReceiver("dl-t", "dl-s", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1);
  assert.ok(d, "subscription DLQ is empty");
  assert.equal(d.messageId, "sp-1");
  assert.equal(d.deadLetterReason, "MaxDeliveryCountExceeded");
});

test("the dead-letter queue can be peeked and keeps the dead-letter reason", T, async () => {
  const client = h.client();
  await client.createSender("peek-dlq-q").sendMessages({ body: "to-dlq", messageId: "pdlq-1" });
  const r = client.createReceiver("peek-dlq-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await r.deadLetterMessage(m, { deadLetterReason: "Peekable", deadLetterErrorDescription: "in the DLQ" });
  const dlq = client.createReceiver("peek-dlq-q", { subQueueType: "deadLetter" });
  const peeked = await dlq.peekMessages(10, { fromSequenceNumber: require("long").ONE });
  assert.equal(peeked.length, 1, "DLQ peek did not return the dead-lettered message");
  assert.equal(peeked[0].messageId, "pdlq-1");
  assert.equal(peeked[0].deadLetterReason, "Peekable");
  assert.equal(peeked[0].deadLetterErrorDescription, "in the DLQ");
  // peek did not consume it
  const [d] = await receiveN(dlq, 1);
  assert.ok(d);
  await dlq.completeMessage(d);
});
