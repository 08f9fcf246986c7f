"use strict";
// 2. Sending: single and batch; properties kept; broker-stamped sequenceNumber / enqueuedTimeUtc / lockedUntilUtc.
const assert = require("node:assert/strict");
const Long = require("long");
const { test, useBroker, queue, receiveN } = require("./support/broker");

const h = useBroker({
  queues: [
    queue("props-q"),
    queue("ttl-q"),
    queue("seq-q"),
    queue("batch-q"),
    queue("array-q"),
    queue("sched-q"),
    queue("body-q"),
    queue("noid-q"),
    queue("wide-q"),
    queue("sess-props-q", { RequiresSession: true }),
  ],
});

const T = { timeout: 60_000 };
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test("single message keeps messageId, correlationId, contentType, subject, to, replyTo, body, applicationProperties", T, async () => {
  const client = h.client();
  const date = new Date("2024-05-06T07:08:09.123Z");
  await client.createSender("props-q").sendMessages({
    body: { hello: "world", n: 1 },
    messageId: "msg-props-1",
    correlationId: "corr-1",
    contentType: "application/json",
    subject: "the-subject",
    to: "someone",
    replyTo: "reply-queue",
    replyToSessionId: "reply-session",
    applicationProperties: {
      str: "text",
      int: 42,
      neg: -7,
      dbl: 3.25,
      yes: true,
      no: false,
      when: date,
      bytes: Buffer.from([1, 2, 3, 255]),
    },
  });
  // skipConvertingDate keeps AMQP timestamps as Date objects (default converts them to numbers)
  const receiver = client.createReceiver("props-q", { receiveMode: "receiveAndDelete", skipConvertingDate: true });
  const [m] = await receiveN(receiver, 1);
  assert.ok(m, "message not received");
  assert.deepEqual(m.body, { hello: "world", n: 1 });
  assert.equal(m.messageId, "msg-props-1");
  assert.equal(m.correlationId, "corr-1");
  assert.equal(m.contentType, "application/json");
  assert.equal(m.subject, "the-subject");
  assert.equal(m.to, "someone");
  assert.equal(m.replyTo, "reply-queue");
  assert.equal(m.replyToSessionId, "reply-session");
  const p = m.applicationProperties;
  assert.ok(p, "applicationProperties missing");
  assert.equal(p.str, "text");
  assert.equal(p.int, 42);
  assert.equal(p.neg, -7);
  assert.equal(p.dbl, 3.25);
  assert.equal(p.yes, true);
  assert.equal(p.no, false);
  assert.ok(p.when instanceof Date, `Date property came back as ${typeof p.when}: ${p.when}`);
  assert.equal(p.when.getTime(), date.getTime());
  assert.ok(Buffer.isBuffer(p.bytes), `Buffer property came back as ${typeof p.bytes}`);
  assert.deepEqual([...p.bytes], [1, 2, 3, 255]);
});

test("sessionId is kept on a session queue", T, async () => {
  const client = h.client();
  await client.createSender("sess-props-q").sendMessages({ body: "s", sessionId: "session-xyz" });
  const r = await client.acceptSession("sess-props-q", "session-xyz", { receiveMode: "receiveAndDelete" });
  const [m] = await receiveN(r, 1);
  assert.ok(m, "session message not received");
  assert.equal(m.sessionId, "session-xyz");
});

test("timeToLive is kept and expiresAtUtc = enqueuedTimeUtc + timeToLive", T, async () => {
  const client = h.client();
  await client.createSender("ttl-q").sendMessages({ body: "ttl", timeToLive: 120_000 });
  const r = client.createReceiver("ttl-q", { receiveMode: "receiveAndDelete" });
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  assert.equal(m.timeToLive, 120_000);
  assert.ok(m.enqueuedTimeUtc instanceof Date);
  assert.equal(m.expiresAtUtc.getTime() - m.enqueuedTimeUtc.getTime(), 120_000);
});

test("sequenceNumber is an increasing Long; enqueuedTimeUtc is set; peekLock sets lockedUntilUtc and a lock token", T, async () => {
  const client = h.client();
  const sender = client.createSender("seq-q");
  const before = Date.now();
  for (let i = 0; i < 5; i++) await sender.sendMessages({ body: i, messageId: `seq-${i}` });
  const after = Date.now();
  const r = client.createReceiver("seq-q", { maxAutoLockRenewalDurationInMs: 0 });
  const msgs = await receiveN(r, 5);
  assert.equal(msgs.length, 5, `received ${msgs.length}/5`);
  assert.deepEqual(
    msgs.map((m) => m.body),
    [0, 1, 2, 3, 4],
    "queue is not FIFO",
  );
  let prev;
  for (const m of msgs) {
    assert.ok(Long.isLong(m.sequenceNumber), "sequenceNumber is not a Long");
    assert.ok(m.sequenceNumber.greaterThan(0), "sequenceNumber must be positive");
    if (prev) assert.ok(m.sequenceNumber.greaterThan(prev), `sequence ${m.sequenceNumber} not > ${prev}`);
    prev = m.sequenceNumber;
    assert.ok(m.enqueuedTimeUtc instanceof Date, "enqueuedTimeUtc missing");
    const t = m.enqueuedTimeUtc.getTime();
    assert.ok(t >= before - 2000 && t <= after + 2000, `enqueuedTimeUtc ${m.enqueuedTimeUtc.toISOString()} outside send window`);
    assert.ok(m.lockedUntilUtc instanceof Date, "lockedUntilUtc missing in peekLock");
    const ahead = m.lockedUntilUtc.getTime() - Date.now();
    assert.ok(ahead > 20_000 && ahead <= 31_000, `lockedUntilUtc ${ahead} ms ahead, expected ~30 s (LockDuration PT30S)`);
    assert.match(m.lockToken, UUID_RE);
    assert.equal(m.deliveryCount, 0, "first delivery must have deliveryCount 0");
    assert.equal(m.state, "active");
  }
  assert.equal(new Set(msgs.map((m) => m.lockToken)).size, 5, "lock tokens must be unique");
  for (const m of msgs) await r.completeMessage(m);
});

test("createMessageBatch: limit is the broker's 256 KiB max-message-size; a batch of 10 arrives intact and in order", T, async () => {
  const client = h.client();
  const sender = client.createSender("batch-q");
  const batch = await sender.createMessageBatch();
  // Standard tier max message size 256 KB (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas);
  // the SDK takes it from the max-message-size field of the broker's attach.
  assert.equal(batch.maxSizeInBytes, 256 * 1024);
  assert.equal(batch.tryAddMessage({ body: Buffer.alloc(300 * 1024) }), false, "a 300 KiB message must not fit");
  for (let i = 0; i < 10; i++) {
    assert.equal(batch.tryAddMessage({ body: `b-${i}`, messageId: `batch-${i}`, applicationProperties: { i } }), true);
  }
  assert.equal(batch.count, 10);
  await sender.sendMessages(batch);
  const r = client.createReceiver("batch-q", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, 10);
  assert.equal(msgs.length, 10, `received ${msgs.length}/10`);
  assert.deepEqual(
    msgs.map((m) => m.messageId),
    [...Array(10).keys()].map((i) => `batch-${i}`),
  );
  assert.deepEqual(
    msgs.map((m) => m.body),
    [...Array(10).keys()].map((i) => `b-${i}`),
  );
  assert.deepEqual(
    msgs.map((m) => m.applicationProperties.i),
    [...Array(10).keys()],
  );
  for (let i = 1; i < msgs.length; i++) {
    assert.ok(msgs[i].sequenceNumber.greaterThan(msgs[i - 1].sequenceNumber));
  }
});

test("sendMessages(array) keeps each message's own properties (batch envelope is not what is stored)", T, async () => {
  const client = h.client();
  await client.createSender("array-q").sendMessages([
    { body: "a", messageId: "arr-a", subject: "sa", applicationProperties: { k: "a" } },
    { body: "b", messageId: "arr-b", subject: "sb", applicationProperties: { k: "b" } },
    { body: "c", messageId: "arr-c", correlationId: "cc", applicationProperties: { k: "c", extra: 1 } },
  ]);
  const r = client.createReceiver("array-q", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, 3);
  assert.equal(msgs.length, 3);
  const byId = Object.fromEntries(msgs.map((m) => [m.messageId, m]));
  assert.deepEqual(Object.keys(byId).sort(), ["arr-a", "arr-b", "arr-c"]);
  assert.equal(byId["arr-a"].subject, "sa");
  assert.equal(byId["arr-b"].subject, "sb");
  assert.equal(byId["arr-c"].subject, undefined);
  assert.equal(byId["arr-c"].correlationId, "cc");
  assert.equal(byId["arr-a"].correlationId, undefined);
  assert.deepEqual(byId["arr-b"].applicationProperties, { k: "b" });
  assert.deepEqual(byId["arr-c"].applicationProperties, { k: "c", extra: 1 });
});

test("scheduledEnqueueTimeUtc on a sent message is kept and delays delivery until then", T, async () => {
  const client = h.client();
  const at = new Date(Date.now() + 3000);
  await client.createSender("sched-q").sendMessages({ body: "later", scheduledEnqueueTimeUtc: at });
  const r = client.createReceiver("sched-q", { receiveMode: "receiveAndDelete" });
  const early = await r.receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(early.length, 0, "scheduled message was delivered before its time");
  const [m] = await receiveN(r, 1, { totalMs: 10_000 });
  const gotAt = Date.now();
  assert.ok(m, "scheduled message never arrived");
  assert.ok(gotAt >= at.getTime() - 100, `delivered ${at.getTime() - gotAt} ms early`);
  assert.ok(m.scheduledEnqueueTimeUtc instanceof Date, "scheduledEnqueueTimeUtc missing");
  assert.equal(m.scheduledEnqueueTimeUtc.getTime(), at.getTime());
});

test("a message sent without messageId gets one from the broker, and settles with default auto-lock-renewal", T, async () => {
  // The SDK keys auto-lock-renewal by messageId and throws "Failed to stop auto lock renewal - no message ID"
  // on settlement if the received message has none; the service stamps a MessageId on messages sent without one.
  const client = h.client();
  await client.createSender("noid-q").sendMessages({ body: "anonymous" });
  const r = client.createReceiver("noid-q"); // peekLock, default maxAutoLockRenewalDurationInMs (5 min)
  const [m] = await receiveN(r, 1);
  assert.ok(m, "message not received");
  assert.equal(typeof m.messageId, "string", `messageId is ${m.messageId}`);
  assert.ok(m.messageId.length > 0);
  await r.completeMessage(m);
});

test("body types round-trip: string, number, array, object, Buffer", T, async () => {
  const client = h.client();
  const bodies = ["plain text", 12345, [1, "two", { three: 3 }], { nested: { deep: [true, null] } }, Buffer.from("raw-bytes")];
  const sender = client.createSender("body-q");
  for (const body of bodies) await sender.sendMessages({ body });
  const r = client.createReceiver("body-q", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, bodies.length);
  assert.equal(msgs.length, bodies.length);
  assert.equal(msgs[0].body, "plain text");
  assert.equal(msgs[1].body, 12345);
  assert.deepEqual(msgs[2].body, [1, "two", { three: 3 }]);
  assert.deepEqual(msgs[3].body, { nested: { deep: [true, null] } });
  assert.ok(Buffer.isBuffer(msgs[4].body));
  assert.equal(msgs[4].body.toString(), "raw-bytes");
});

test("partitionKey and wide-range numeric application properties round-trip", T, async () => {
  const client = h.client();
  await client.createSender("wide-q").sendMessages({
    body: "w",
    partitionKey: "pk-1",
    applicationProperties: {
      big: 2 ** 40, // rhea encodes as ulong
      bigNeg: -(2 ** 40), // long
      maxSafe: Number.MAX_SAFE_INTEGER,
      zero: 0,
      tiny: 1e-9,
      empty: "",
      unicode: "héllo wörld ✓ 日本",
    },
  });
  const r = client.createReceiver("wide-q", { receiveMode: "receiveAndDelete" });
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  assert.equal(m.partitionKey, "pk-1");
  assert.deepEqual(m.applicationProperties, {
    big: 2 ** 40,
    bigNeg: -(2 ** 40),
    maxSafe: Number.MAX_SAFE_INTEGER,
    zero: 0,
    tiny: 1e-9,
    empty: "",
    unicode: "héllo wörld ✓ 日本",
  });
});
