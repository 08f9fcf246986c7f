"use strict";
// 7. scheduleMessages / cancelScheduledMessages, and peekMessages (browse without locking).
// https://learn.microsoft.com/azure/service-bus-messaging/message-sequencing#scheduled-messages
// https://learn.microsoft.com/azure/service-bus-messaging/message-browsing
const assert = require("node:assert/strict");
const Long = require("long");
const { test, useBroker, queue, receiveN, sleep } = require("./support/broker");

const h = useBroker({
  queues: [
    queue("sch-q"),
    queue("sch-multi-q"),
    queue("cancel-q"),
    queue("peek-q", { LockDuration: "PT30S" }),
    queue("peek-cursor-q"),
  ],
});

const T = { timeout: 90_000 };

test("scheduleMessages: delivered at the scheduled time, not before, with the returned sequence number", T, async () => {
  const client = h.client();
  const sender = client.createSender("sch-q");
  const at = new Date(Date.now() + 4000);
  const seqs = await sender.scheduleMessages({ body: "scheduled", messageId: "sch-1" }, at);
  assert.equal(seqs.length, 1);
  assert.ok(Long.isLong(seqs[0]) && seqs[0].greaterThan(0), `bad sequence number ${seqs[0]}`);

  const r = client.createReceiver("sch-q", { receiveMode: "receiveAndDelete" });
  // Scheduled messages are visible to peek on queues, with state "scheduled".
  const peeked = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.equal(peeked.length, 1, "scheduled message not peekable");
  assert.equal(peeked[0].state, "scheduled");
  assert.ok(peeked[0].sequenceNumber.equals(seqs[0]));

  const early = await r.receiveMessages(1, { maxWaitTimeInMs: 1500 });
  assert.equal(early.length, 0, "scheduled message delivered early");
  const [m] = await receiveN(r, 1, { totalMs: 10_000 });
  const gotAt = Date.now();
  assert.ok(m, "scheduled message never delivered");
  assert.ok(gotAt >= at.getTime() - 100, `delivered ${at.getTime() - gotAt} ms before its time`);
  assert.equal(m.messageId, "sch-1");
  assert.ok(m.sequenceNumber.equals(seqs[0]), `sequence ${m.sequenceNumber} != scheduled ${seqs[0]}`);
  assert.equal(m.scheduledEnqueueTimeUtc.getTime(), at.getTime());
  assert.ok(m.enqueuedTimeUtc.getTime() >= at.getTime() - 1000, "enqueuedTimeUtc should be the activation time");
});

test("scheduleMessages of several messages returns one increasing sequence number each", T, async () => {
  const client = h.client();
  const at = new Date(Date.now() + 1500);
  const seqs = await client.createSender("sch-multi-q").scheduleMessages(
    [
      { body: 0, messageId: "m0" },
      { body: 1, messageId: "m1" },
      { body: 2, messageId: "m2" },
    ],
    at,
  );
  assert.equal(seqs.length, 3);
  assert.ok(seqs[1].greaterThan(seqs[0]) && seqs[2].greaterThan(seqs[1]), `not increasing: ${seqs.join(",")}`);
  const r = client.createReceiver("sch-multi-q", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, 3, { totalMs: 10_000 });
  assert.deepEqual(
    msgs.map((m) => m.messageId).sort(),
    ["m0", "m1", "m2"],
  );
});

test("cancelScheduledMessages: a cancelled message is never delivered", T, async () => {
  const client = h.client();
  const sender = client.createSender("cancel-q");
  const at = new Date(Date.now() + 2500);
  const [cancelSeq] = await sender.scheduleMessages({ body: "cancel-me", messageId: "cancel-1" }, at);
  const [keepSeq] = await sender.scheduleMessages({ body: "keep-me", messageId: "keep-1" }, at);
  await sender.cancelScheduledMessages(cancelSeq);
  const r = client.createReceiver("cancel-q", { receiveMode: "receiveAndDelete" });
  const peeked = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.deepEqual(
    peeked.map((m) => m.messageId),
    ["keep-1"],
    "cancelled message still scheduled",
  );
  await sleep(Math.max(0, at.getTime() - Date.now()) + 500);
  const msgs = await receiveN(r, 2, { totalMs: 4000 });
  assert.deepEqual(
    msgs.map((m) => m.messageId),
    ["keep-1"],
  );
  assert.ok(msgs[0].sequenceNumber.equals(keepSeq));
});

test("peekMessages neither locks nor changes deliveryCount; it also shows locked messages", T, async () => {
  const client = h.client();
  await client.createSender("peek-q").sendMessages([
    { body: "p0", messageId: "p0" },
    { body: "p1", messageId: "p1" },
  ]);
  const r = client.createReceiver("peek-q", { maxAutoLockRenewalDurationInMs: 0 });
  const p1 = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.deepEqual(
    p1.map((m) => m.messageId),
    ["p0", "p1"],
  );
  for (const m of p1) {
    assert.equal(m.deliveryCount, 0);
    assert.equal(m.lockToken, undefined, "peeked messages carry no lock");
    assert.ok(Long.isLong(m.sequenceNumber));
    assert.ok(m.enqueuedTimeUtc instanceof Date);
  }
  // not locked by the peek: a receiver gets both right away, as first deliveries
  const got = await receiveN(r, 2, { totalMs: 4000 });
  assert.deepEqual(
    got.map((m) => [m.messageId, m.deliveryCount]),
    [
      ["p0", 0],
      ["p1", 0],
    ],
  );
  // locked messages are still returned by peek, and peeking does not count as a delivery
  const p2 = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.deepEqual(
    p2.map((m) => [m.messageId, m.deliveryCount]),
    [
      ["p0", 0],
      ["p1", 0],
    ],
  );
  await r.abandonMessage(got[0]);
  await r.completeMessage(got[1]);
  const p3 = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.deepEqual(
    p3.map((m) => [m.messageId, m.deliveryCount]),
    [["p0", 1]],
  );
  const p4 = await r.peekMessages(10, { fromSequenceNumber: Long.ONE });
  assert.equal(p4[0].deliveryCount, 1, "peek changed deliveryCount");
});

test("peekMessages without fromSequenceNumber continues after the last peeked message", T, async () => {
  const client = h.client();
  await client.createSender("peek-cursor-q").sendMessages([0, 1, 2, 3, 4].map((i) => ({ body: i, messageId: `pc-${i}` })));
  const r = client.createReceiver("peek-cursor-q");
  const a = await r.peekMessages(2);
  const b = await r.peekMessages(2);
  const c = await r.peekMessages(2);
  const d = await r.peekMessages(2);
  assert.deepEqual(
    [...a, ...b, ...c].map((m) => m.messageId),
    ["pc-0", "pc-1", "pc-2", "pc-3", "pc-4"],
  );
  assert.equal(d.length, 0, "peek past the end must return nothing (statusCode 204)");
});
