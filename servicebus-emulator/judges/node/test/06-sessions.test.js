"use strict";
// 6. Sessions: acceptNextSession / acceptSession(id), FIFO per session, session state, session lock.
// https://learn.microsoft.com/azure/service-bus-messaging/message-sessions
const assert = require("node:assert/strict");
const { test, useBroker, queue, receiveN, expectCode, sleep } = require("./support/broker");

const SESS = { RequiresSession: true, LockDuration: "PT30S" };
const h = useBroker({
  queues: [
    queue("s-next-q", SESS),
    queue("s-id-q", SESS),
    queue("s-state-q", SESS),
    queue("s-renew-q", SESS),
    queue("s-locked-q", SESS),
    queue("s-two-q", SESS),
    queue("s-release-q", SESS),
    queue("s-abandon-q", SESS),
    queue("s-nosid-q", SESS),
    queue("plain-q"),
    queue("s-drain-q", SESS),
    queue("s-empty-q", SESS),
    queue("s-sub-q", SESS),
    queue("s-autorenew-q", { RequiresSession: true, LockDuration: "PT5S" }),
    queue("s-expire-q", { RequiresSession: true, LockDuration: "PT5S" }),
  ],
});

const T = { timeout: 90_000 };
const NO_AUTORENEW = { maxAutoLockRenewalDurationInMs: 0 };

test("acceptNextSession locks a session with messages and receives them in order", T, async () => {
  const client = h.client();
  await client.createSender("s-next-q").sendMessages([0, 1, 2, 3].map((i) => ({ body: i, sessionId: "A" })));
  const r = await client.acceptNextSession("s-next-q", NO_AUTORENEW);
  assert.equal(r.sessionId, "A");
  assert.ok(r.sessionLockedUntilUtc instanceof Date, "sessionLockedUntilUtc missing");
  const ahead = r.sessionLockedUntilUtc.getTime() - Date.now();
  assert.ok(ahead > 15_000 && ahead <= 31_000, `session lock ${ahead} ms ahead, expected ~30 s`);
  const msgs = await receiveN(r, 4);
  assert.deepEqual(
    msgs.map((m) => m.body),
    [0, 1, 2, 3],
  );
  for (const m of msgs) {
    assert.equal(m.sessionId, "A");
    await r.completeMessage(m);
  }
});

test("acceptSession(id) receives only that session's messages, FIFO", T, async () => {
  const client = h.client();
  const sender = client.createSender("s-id-q");
  for (let i = 0; i < 3; i++) {
    await sender.sendMessages({ body: `A${i}`, sessionId: "A" });
    await sender.sendMessages({ body: `B${i}`, sessionId: "B" });
  }
  const rb = await client.acceptSession("s-id-q", "B", NO_AUTORENEW);
  assert.equal(rb.sessionId, "B");
  const bs = await receiveN(rb, 3);
  assert.deepEqual(
    bs.map((m) => m.body),
    ["B0", "B1", "B2"],
  );
  for (const m of bs) await rb.completeMessage(m);
  assert.equal((await rb.receiveMessages(1, { maxWaitTimeInMs: 1000 })).length, 0, "session B got another session's message");
  const ra = await client.acceptSession("s-id-q", "A", NO_AUTORENEW);
  const as = await receiveN(ra, 3);
  assert.deepEqual(
    as.map((m) => m.body),
    ["A0", "A1", "A2"],
  );
  for (const m of as) await ra.completeMessage(m);
});

test("setSessionState / getSessionState round-trip and persist across receivers", T, async () => {
  const client = h.client();
  await client.createSender("s-state-q").sendMessages({ body: "x", sessionId: "S" });
  const r1 = await client.acceptSession("s-state-q", "S", NO_AUTORENEW);
  const initial = await r1.getSessionState();
  assert.ok(initial === null || initial === undefined, `a new session must have no state, got ${JSON.stringify(initial)}`);
  await r1.setSessionState({ step: 2, items: ["a", "b"] });
  assert.deepEqual(await r1.getSessionState(), { step: 2, items: ["a", "b"] });
  await r1.setSessionState("second");
  assert.equal(await r1.getSessionState(), "second");
  await r1.close();

  const r2 = await client.acceptSession("s-state-q", "S", NO_AUTORENEW);
  assert.equal(await r2.getSessionState(), "second", "session state lost after the session was released");
  await r2.setSessionState(null);
  const cleared = await r2.getSessionState();
  assert.ok(cleared === null || cleared === undefined, `state after setSessionState(null): ${JSON.stringify(cleared)}`);
});

test("renewSessionLock extends sessionLockedUntilUtc", T, async () => {
  const client = h.client();
  await client.createSender("s-renew-q").sendMessages({ body: "r", sessionId: "R" });
  const r = await client.acceptSession("s-renew-q", "R", NO_AUTORENEW);
  const first = r.sessionLockedUntilUtc.getTime();
  await sleep(2000);
  const renewed = await r.renewSessionLock();
  assert.ok(renewed instanceof Date);
  assert.ok(renewed.getTime() >= first + 1500, `renewed ${renewed.toISOString()} vs first ${new Date(first).toISOString()}`);
  assert.equal(r.sessionLockedUntilUtc.getTime(), renewed.getTime());
});

test("accepting a session that another receiver holds fails with SessionCannotBeLocked", T, async () => {
  const c1 = h.client();
  await c1.createSender("s-locked-q").sendMessages({ body: "l", sessionId: "L" });
  const holder = await c1.acceptSession("s-locked-q", "L", NO_AUTORENEW);
  assert.equal(holder.sessionId, "L");
  const c2 = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
  await expectCode(() => c2.acceptSession("s-locked-q", "L", NO_AUTORENEW), "SessionCannotBeLocked", assert);
  // the holder is unaffected
  const [m] = await receiveN(holder, 1);
  assert.ok(m, "session holder lost its message");
  await holder.completeMessage(m);
});

test("acceptNextSession skips sessions that are already locked", T, async () => {
  const client = h.client();
  await client.createSender("s-two-q").sendMessages([
    { body: 1, sessionId: "X" },
    { body: 2, sessionId: "Y" },
  ]);
  const r1 = await client.acceptNextSession("s-two-q", NO_AUTORENEW);
  const r2 = await h.client().acceptNextSession("s-two-q", NO_AUTORENEW);
  assert.notEqual(r1.sessionId, r2.sessionId, "two receivers were given the same session");
  assert.deepEqual([r1.sessionId, r2.sessionId].sort(), ["X", "Y"]);
});

test("closing a session receiver releases the session lock", T, async () => {
  const client = h.client();
  await client.createSender("s-release-q").sendMessages([
    { body: 1, sessionId: "Z" },
    { body: 2, sessionId: "Z" },
  ]);
  const r1 = await client.acceptSession("s-release-q", "Z", NO_AUTORENEW);
  const [m1] = await receiveN(r1, 1);
  assert.ok(m1);
  await r1.completeMessage(m1);
  await r1.close();
  const r2 = await h.client().acceptSession("s-release-q", "Z", NO_AUTORENEW);
  const [m2] = await receiveN(r2, 1);
  assert.ok(m2, "second message not delivered to the next session holder");
  assert.equal(m2.body, 2);
  await r2.completeMessage(m2);
});

test("abandon inside a session redelivers to the session holder with deliveryCount + 1", T, async () => {
  const client = h.client();
  await client.createSender("s-abandon-q").sendMessages({ body: "again", sessionId: "AB" });
  const r = await client.acceptSession("s-abandon-q", "AB", NO_AUTORENEW);
  const [m1] = await receiveN(r, 1);
  assert.ok(m1);
  assert.equal(m1.deliveryCount, 0);
  await r.abandonMessage(m1);
  const [m2] = await receiveN(r, 1, { totalMs: 5000 });
  assert.ok(m2, "abandoned session message not redelivered");
  assert.equal(m2.deliveryCount, 1);
  assert.equal(m2.sessionId, "AB");
  await r.completeMessage(m2);
});

test("sending without sessionId to a session-enabled queue is rejected", T, async () => {
  // "Entities that have session support enabled can only receive messages that have the SessionId set"
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
  let err;
  try {
    await client.createSender("s-nosid-q").sendMessages({ body: "no session" });
  } catch (e) {
    err = e;
  }
  assert.ok(err, "message without sessionId was accepted by a session queue");
});

test("a non-session receiver on a session-enabled queue is refused", T, async () => {
  // "It is not possible for an entity that requires sessions to create a non-sessionful message receiver."
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
  await client.createSender("s-nosid-q").sendMessages({ body: "for-session", sessionId: "N" }).catch(() => {});
  let err;
  let got = [];
  try {
    got = await client.createReceiver("s-nosid-q").receiveMessages(1, { maxWaitTimeInMs: 2000 });
  } catch (e) {
    err = e;
  }
  assert.ok(err, `a plain receiver attached to a session queue${got.length ? " and even got a message" : ""}`);
});

test("acceptSession on a queue without sessions is refused", T, async () => {
  // "A sessionful message receiver cannot be created on an entity that does not require sessions."
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
  let err;
  try {
    await client.acceptSession("plain-q", "any-session");
  } catch (e) {
    err = e;
  }
  assert.ok(err, "a session receiver was accepted on a queue without RequiresSession");
});

test("session receiver: an empty receiveMessages is drained and the session link stays usable", T, async () => {
  // If the broker does not answer flow(drain=true), the SDK closes the link, which for a session
  // receiver loses the session (BatchingReceiverLite.tryDrainReceiver).
  const client = h.client();
  const sender = client.createSender("s-drain-q");
  await sender.sendMessages({ body: "first", sessionId: "D" });
  const r = await client.acceptSession("s-drain-q", "D", NO_AUTORENEW);
  const [m1] = await receiveN(r, 1);
  assert.ok(m1);
  await r.completeMessage(m1);
  const t0 = Date.now();
  const none = await r.receiveMessages(3, { maxWaitTimeInMs: 1000 });
  assert.equal(none.length, 0);
  assert.ok(Date.now() - t0 < 3000, "empty session receive took too long");
  await sender.sendMessages({ body: "second", sessionId: "D" });
  const [m2] = await receiveN(r, 1);
  assert.ok(m2, "session link unusable after an empty receive (drain not answered?)");
  assert.equal(m2.body, "second");
  await r.completeMessage(m2);
});

test("acceptNextSession with no session available fails after the requested timeout (com.microsoft:timeout)", T, async () => {
  // The SDK asks the broker to wait `com.microsoft:timeout` ms (≈ retryOptions.timeoutInMs) for a session;
  // the service then detaches with com.microsoft:timeout. The SDK reports ServiceTimeout or, when the
  // attach carries no session id, SessionCannotBeLocked (Azure/azure-sdk-for-js#9775).
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 3000 } });
  const t0 = Date.now();
  let err;
  try {
    await client.acceptNextSession("s-empty-q");
  } catch (e) {
    err = e;
  }
  const took = Date.now() - t0;
  assert.ok(err, "acceptNextSession on an empty queue returned a receiver");
  assert.ok(["ServiceTimeout", "SessionCannotBeLocked"].includes(err.code), `code ${err.code}: ${err.message}`);
  assert.ok(took >= 1500 && took < 10_000, `gave up after ${took} ms, expected about 3 s`);
});

test("session lock expiry: settling fails with SessionLockLost, renewSessionLock too", T, async () => {
  const client = h.client({ retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
  await client.createSender("s-expire-q").sendMessages({ body: "e", sessionId: "E" });
  const r = await client.acceptSession("s-expire-q", "E", NO_AUTORENEW);
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await sleep(Math.max(0, r.sessionLockedUntilUtc.getTime() - Date.now()) + 1500);
  await expectCode(() => r.completeMessage(m), "SessionLockLost", assert);
  await expectCode(() => r.renewSessionLock(), "SessionLockLost", assert);
  // the session is free again and the message is still there
  const r2 = await h.client().acceptSession("s-expire-q", "E", NO_AUTORENEW);
  const [again] = await receiveN(r2, 1);
  assert.ok(again, "message lost with the session lock");
  assert.equal(again.body, "e");
  await r2.completeMessage(again);
});

test("subscribe() on a session receiver delivers the session's messages in order", T, async () => {
  const client = h.client();
  await client.createSender("s-sub-q").sendMessages([0, 1, 2, 3, 4].map((i) => ({ body: i, sessionId: "SUB", messageId: `sub-${i}` })));
  const r = await client.acceptSession("s-sub-q", "SUB", NO_AUTORENEW);
  const bodies = [];
  const errors = [];
  let done;
  const finished = new Promise((res) => (done = res));
  const sub = r.subscribe({
    async processMessage(m) {
      bodies.push(m.body);
      if (bodies.length >= 5) done();
    },
    async processError(args) {
      errors.push(args.error);
    },
  });
  await Promise.race([finished, sleep(15_000)]);
  await sleep(300);
  await sub.close();
  assert.deepEqual(bodies, [0, 1, 2, 3, 4], `errors: ${errors.map((e) => e.message).join("; ")}`);
  const left = await r.receiveMessages(1, { maxWaitTimeInMs: 1000 }).catch(() => []);
  assert.equal(left.length, 0, "autoComplete did not complete the session messages");
});

test("session lock auto-renewal (SDK default) keeps the session past LockDuration", T, async () => {
  const client = h.client();
  const sender = client.createSender("s-autorenew-q");
  await sender.sendMessages({ body: 1, sessionId: "AR" });
  const r = await client.acceptSession("s-autorenew-q", "AR"); // default: auto-renew for 5 min
  const first = r.sessionLockedUntilUtc.getTime();
  await sleep(first - Date.now() + 2500);
  assert.ok(r.sessionLockedUntilUtc.getTime() > first, "session lock was never renewed");
  await sender.sendMessages({ body: 2, sessionId: "AR" });
  const msgs = await receiveN(r, 2);
  assert.deepEqual(
    msgs.map((m) => m.body),
    [1, 2],
  );
  for (const m of msgs) await r.completeMessage(m);
});
