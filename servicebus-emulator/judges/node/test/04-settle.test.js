"use strict";
// 4. Settlement: complete, abandon, deadLetter, defer/receiveDeferredMessages, lock expiry, renewMessageLock,
//    and settling after the lock is lost.
// Semantics: https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
const assert = require("node:assert/strict");
const Long = require("long");
const { test, useBroker, queue, receiveN, expectCode, sleep } = require("./support/broker");

const LOCK = { LockDuration: "PT5S" }; // Service Bus minimum lock duration is 5 s
const h = useBroker({
  queues: [
    queue("complete-q", LOCK),
    queue("abandon-q", LOCK),
    queue("abandon-props-q", LOCK),
    queue("dl-q", LOCK),
    queue("defer-q", LOCK),
    queue("expire-q", LOCK),
    queue("renew-q", LOCK),
    queue("lost-q", LOCK),
    queue("lost-renew-q", LOCK),
    queue("defer-dl-q", LOCK),
    queue("autorenew-q", LOCK),
  ],
});

const T = { timeout: 90_000 };
// auto lock renewal is on by default in the SDK (5 min); these tests observe raw lock behaviour.
const NO_AUTORENEW = { maxAutoLockRenewalDurationInMs: 0 };

async function sendOne(client, q, msg) {
  const s = client.createSender(q);
  await s.sendMessages(msg);
  await s.close();
}

test("complete removes the message", T, async () => {
  const client = h.client();
  await sendOne(client, "complete-q", { body: "c", messageId: "complete-1" });
  const r = client.createReceiver("complete-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await r.completeMessage(m);
  const more = await r.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(more.length, 0);
  assert.equal((await r.peekMessages(10, { fromSequenceNumber: Long.ONE })).length, 0);
});

test("abandon makes the message available again with deliveryCount + 1", T, async () => {
  const client = h.client();
  await sendOne(client, "abandon-q", { body: "a", messageId: "abandon-1" });
  const r = client.createReceiver("abandon-q", NO_AUTORENEW);
  const [m1] = await receiveN(r, 1);
  assert.ok(m1);
  assert.equal(m1.deliveryCount, 0);
  await r.abandonMessage(m1);
  const [m2] = await receiveN(r, 1, { totalMs: 5000 });
  assert.ok(m2, "abandoned message was not redelivered (promptly)");
  assert.equal(m2.messageId, "abandon-1");
  assert.ok(m2.sequenceNumber.equals(m1.sequenceNumber), "redelivery must keep the sequence number");
  assert.equal(m2.deliveryCount, 1);
  await r.abandonMessage(m2);
  const [m3] = await receiveN(r, 1, { totalMs: 5000 });
  assert.ok(m3);
  assert.equal(m3.deliveryCount, 2);
  await r.completeMessage(m3);
});

test("abandon(propertiesToModify) updates the message's application properties", T, async () => {
  const client = h.client();
  await sendOne(client, "abandon-props-q", { body: "p", applicationProperties: { keep: "yes", attempt: 0 } });
  const r = client.createReceiver("abandon-props-q", NO_AUTORENEW);
  const [m1] = await receiveN(r, 1);
  assert.ok(m1);
  await r.abandonMessage(m1, { attempt: 1, reason: "retry-later" });
  const [m2] = await receiveN(r, 1, { totalMs: 5000 });
  assert.ok(m2);
  assert.equal(m2.applicationProperties.keep, "yes");
  assert.equal(m2.applicationProperties.attempt, 1);
  assert.equal(m2.applicationProperties.reason, "retry-later");
  await r.completeMessage(m2);
});

test("deadLetter(reason, description) moves the message to the dead-letter sub-queue", T, async () => {
  const client = h.client();
  await sendOne(client, "dl-q", { body: { order: 7 }, messageId: "dl-1", applicationProperties: { orig: "x" } });
  const r = client.createReceiver("dl-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await r.deadLetterMessage(m, { deadLetterReason: "BadOrder", deadLetterErrorDescription: "order 7 is invalid" });
  assert.equal((await r.receiveMessages(1, { maxWaitTimeInMs: 1000 })).length, 0, "dead-lettered message still in the queue");

  const dlq = client.createReceiver("dl-q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1);
  assert.ok(d, "dead-letter queue is empty");
  assert.equal(d.messageId, "dl-1");
  assert.deepEqual(d.body, { order: 7 });
  assert.equal(d.deadLetterReason, "BadOrder");
  assert.equal(d.deadLetterErrorDescription, "order 7 is invalid");
  assert.equal(d.applicationProperties.orig, "x");
  assert.equal(d.applicationProperties.DeadLetterReason, "BadOrder");
});

test("defer hides the message; receiveDeferredMessages(seq) returns it; completing it removes it", T, async () => {
  const client = h.client();
  await sendOne(client, "defer-q", { body: "d", messageId: "defer-1" });
  const r = client.createReceiver("defer-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  const seq = m.sequenceNumber;
  await r.deferMessage(m);
  // https://learn.microsoft.com/azure/service-bus-messaging/message-deferral
  assert.equal((await r.receiveMessages(1, { maxWaitTimeInMs: 1000 })).length, 0, "deferred message delivered by a normal receive");
  const peeked = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.equal(peeked.length, 1, "deferred message must stay in the queue (peekable)");
  assert.equal(peeked[0].state, "deferred");

  const [dm] = await r.receiveDeferredMessages(seq);
  assert.ok(dm, "receiveDeferredMessages returned nothing");
  assert.equal(dm.messageId, "defer-1");
  assert.ok(dm.sequenceNumber.equals(seq));
  assert.equal(dm.state, "deferred");
  assert.ok(dm.lockToken, "deferred message received in peekLock has no lock token");
  await r.completeMessage(dm); // settled via $management update-disposition (no link delivery)

  // https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messaging-exceptions-latest :
  // MessageNotFound = "Attempt to receive a message with a particular sequence number. This message isn't found."
  await expectCode(() => r.receiveDeferredMessages(seq), "MessageNotFound", assert);
});

test("lock expiry: the message is redelivered with deliveryCount + 1", T, async () => {
  const client = h.client();
  await sendOne(client, "expire-q", { body: "e", messageId: "expire-1" });
  const r = client.createReceiver("expire-q", NO_AUTORENEW);
  const [m1] = await receiveN(r, 1);
  assert.ok(m1);
  assert.equal(m1.deliveryCount, 0);
  const early = await client.createReceiver("expire-q").receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(early.length, 0, "message redelivered while still locked");
  await sleep(Math.max(0, m1.lockedUntilUtc.getTime() - Date.now()) + 1000);
  const [m2] = await receiveN(client.createReceiver("expire-q", NO_AUTORENEW), 1, { totalMs: 8000 });
  assert.ok(m2, "message not redelivered after its lock expired");
  assert.equal(m2.messageId, "expire-1");
  assert.equal(m2.deliveryCount, 1);
});

test("renewMessageLock extends lockedUntilUtc and keeps the lock past the original expiry", T, async () => {
  const client = h.client();
  await sendOne(client, "renew-q", { body: "r", messageId: "renew-1" });
  const r = client.createReceiver("renew-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  const first = m.lockedUntilUtc.getTime();
  await sleep(3000);
  const renewed = await r.renewMessageLock(m);
  assert.ok(renewed instanceof Date);
  assert.ok(renewed.getTime() >= first + 2500, `renewed lock ${renewed.toISOString()} not later than ${new Date(first).toISOString()}`);
  assert.equal(m.lockedUntilUtc.getTime(), renewed.getTime());
  await sleep(3000); // now past the original lockedUntil
  assert.ok(Date.now() > first, "test timing: original lock should have passed");
  const other = await client.createReceiver("renew-q").receiveMessages(1, { maxWaitTimeInMs: 500 });
  assert.equal(other.length, 0, "message redelivered although its lock was renewed");
  await r.completeMessage(m); // must still hold the lock
});

test("completing after the lock expired rejects with MessageLockLost", T, async () => {
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 15_000 } });
  await sendOne(client, "lost-q", { body: "l", messageId: "lost-1" });
  const r = client.createReceiver("lost-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await sleep(Math.max(0, m.lockedUntilUtc.getTime() - Date.now()) + 1500);
  await expectCode(() => r.completeMessage(m), "MessageLockLost", assert);
  // the message is still there for the next receiver
  const [again] = await receiveN(client.createReceiver("lost-q", { receiveMode: "receiveAndDelete" }), 1);
  assert.ok(again, "message vanished after a failed complete");
  assert.equal(again.messageId, "lost-1");
});

test("renewMessageLock after the lock expired rejects with MessageLockLost", T, async () => {
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 15_000 } });
  await sendOne(client, "lost-renew-q", { body: "l2" });
  const r = client.createReceiver("lost-renew-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await sleep(Math.max(0, m.lockedUntilUtc.getTime() - Date.now()) + 1500);
  await expectCode(() => r.renewMessageLock(m), "MessageLockLost", assert);
});

test("deadLetter of a deferred message (via $management update-disposition) keeps reason and description", T, async () => {
  const client = h.client();
  await sendOne(client, "defer-dl-q", { body: "dd", messageId: "defer-dl-1" });
  const r = client.createReceiver("defer-dl-q", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await r.deferMessage(m);
  const [dm] = await r.receiveDeferredMessages(m.sequenceNumber);
  assert.ok(dm, "deferred message not returned");
  await r.deadLetterMessage(dm, { deadLetterReason: "DeferredBad", deadLetterErrorDescription: "gave up" });
  const dlq = client.createReceiver("defer-dl-q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
  const [d] = await receiveN(dlq, 1);
  assert.ok(d, "dead-lettered deferred message not in the DLQ");
  assert.equal(d.messageId, "defer-dl-1");
  assert.equal(d.deadLetterReason, "DeferredBad");
  assert.equal(d.deadLetterErrorDescription, "gave up");
});

test("auto lock renewal (SDK default) keeps a slow message locked past LockDuration", T, async () => {
  // The SDK renews message locks itself via $management renew-lock (maxAutoLockRenewalDurationInMs, default 5 min).
  const client = h.client();
  await sendOne(client, "autorenew-q", { body: "slow", messageId: "autorenew-1" });
  const r = client.createReceiver("autorenew-q"); // default auto-renewal
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  const first = m.lockedUntilUtc.getTime();
  await sleep(first - Date.now() + 2500); // well past the original 5 s lock
  const other = await h.client().createReceiver("autorenew-q").receiveMessages(1, { maxWaitTimeInMs: 500 });
  assert.equal(other.length, 0, "message redelivered although the SDK kept renewing its lock");
  assert.ok(m.lockedUntilUtc.getTime() > first, "lockedUntilUtc was never renewed");
  await r.completeMessage(m);
});
