"use strict";
// 1. Entities from Config.json, and ServiceBusAdministrationClient create/get/delete.
const assert = require("node:assert/strict");
const { test, useBroker, queue, topic, subscription, receiveN, expectCode, NO_RETRY } = require("./support/broker");

const h = useBroker({
  queues: [
    queue("cfg-q", {
      LockDuration: "PT5S",
      MaxDeliveryCount: 3,
      DefaultMessageTimeToLive: "PT1H",
      DeadLetteringOnMessageExpiration: true,
    }),
    queue("cfg-sess-q", { RequiresSession: true }),
    queue("count-q"),
  ],
  topics: [
    topic("cfg-t", [
      subscription("cfg-s1", { LockDuration: "PT5S", MaxDeliveryCount: 3 }),
      subscription("cfg-s2"),
    ]),
  ],
});

const T = { timeout: 60_000 };

test("queue declared in Config.json accepts and delivers messages", T, async () => {
  const client = h.client();
  const sender = client.createSender("cfg-q");
  await sender.sendMessages({ body: "from-config", messageId: "cfg-1" });
  const receiver = client.createReceiver("cfg-q", { receiveMode: "receiveAndDelete" });
  const [msg] = await receiveN(receiver, 1);
  assert.ok(msg, "no message received from the config queue");
  assert.equal(msg.body, "from-config");
  assert.equal(msg.messageId, "cfg-1");
});

test("topic and subscriptions declared in Config.json exist and receive", T, async () => {
  const client = h.client();
  await client.createSender("cfg-t").sendMessages({ body: "topic-msg", messageId: "t-1" });
  for (const sub of ["cfg-s1", "cfg-s2"]) {
    const r = client.createReceiver("cfg-t", sub, { receiveMode: "receiveAndDelete" });
    const [msg] = await receiveN(r, 1);
    assert.ok(msg, `subscription ${sub} got nothing`);
    assert.equal(msg.body, "topic-msg");
  }
});

test("admin getQueue/getTopic/getSubscription report the Config.json properties", T, async () => {
  const admin = h.admin();
  const q = await admin.getQueue("cfg-q");
  assert.equal(q.name, "cfg-q");
  assert.equal(q.lockDuration, "PT5S");
  assert.equal(q.maxDeliveryCount, 3);
  assert.equal(q.requiresSession, false);
  assert.equal(q.deadLetteringOnMessageExpiration, true);
  const sq = await admin.getQueue("cfg-sess-q");
  assert.equal(sq.requiresSession, true);
  const t = await admin.getTopic("cfg-t");
  assert.equal(t.name, "cfg-t");
  const s = await admin.getSubscription("cfg-t", "cfg-s1");
  assert.equal(s.topicName, "cfg-t");
  assert.equal(s.subscriptionName, "cfg-s1");
  assert.equal(s.lockDuration, "PT5S");
  assert.equal(s.maxDeliveryCount, 3);
});

test("admin createQueue -> getQueue -> use it -> deleteQueue", T, async () => {
  const admin = h.admin();
  const created = await admin.createQueue("adm-q", { lockDuration: "PT10S", maxDeliveryCount: 4 });
  assert.equal(created.name, "adm-q");
  assert.equal(created.lockDuration, "PT10S");
  assert.equal(created.maxDeliveryCount, 4);

  const got = await admin.getQueue("adm-q");
  assert.equal(got.name, "adm-q");
  assert.equal(got.lockDuration, "PT10S");
  assert.equal(got.maxDeliveryCount, 4);
  assert.equal(await admin.queueExists("adm-q"), true);

  const client = h.client();
  await client.createSender("adm-q").sendMessages({ body: "hello new queue", messageId: "adm-q-1" });
  const r = client.createReceiver("adm-q");
  const [msg] = await receiveN(r, 1);
  assert.ok(msg, "created queue did not deliver");
  assert.equal(msg.body, "hello new queue");
  // lock duration of the created queue is applied: lockedUntil ~ now + 10 s
  const lockMs = msg.lockedUntilUtc.getTime() - Date.now();
  assert.ok(lockMs > 5_000 && lockMs <= 11_000, `lockedUntilUtc is ${lockMs} ms ahead, expected ~10 s`);
  await r.completeMessage(msg);
  await r.close();

  await admin.deleteQueue("adm-q");
  assert.equal(await admin.queueExists("adm-q"), false);
  const err = await admin.getQueue("adm-q").then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err, "getQueue of a deleted queue succeeded");
  // https://learn.microsoft.com/rest/api/servicebus/get-entity : 404 for a missing entity
  // (the SDK also turns an empty feed into MessageEntityNotFoundError).
  assert.equal(err.code, "MessageEntityNotFoundError", `${err.code}: ${err.message}`);

  // and AMQP to the deleted queue now fails as not-found
  const c2 = h.client({ retryOptions: NO_RETRY });
  await expectCode(() => c2.createSender("adm-q").sendMessages({ body: "x" }), "MessagingEntityNotFound", assert);
});

test("admin createQueue with no options applies Service Bus defaults", T, async () => {
  // QueueProperties defaults: lockDuration PT1M, maxDeliveryCount 10
  // (https://learn.microsoft.com/javascript/api/@azure/service-bus/createqueueoptions)
  const admin = h.admin();
  const q = await admin.createQueue("adm-default-q");
  assert.equal(q.name, "adm-default-q");
  assert.equal(q.lockDuration, "PT1M");
  assert.equal(q.maxDeliveryCount, 10);
  assert.equal(q.requiresSession, false);
  await admin.deleteQueue("adm-default-q");
});

test("admin createQueue of an existing name fails with 409 MessageEntityAlreadyExistsError", T, async () => {
  const admin = h.admin();
  const err = await admin.createQueue("cfg-q").then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err, "creating an existing queue succeeded");
  assert.equal(err.statusCode, 409, `status ${err.statusCode}: ${err.message}`);
  assert.equal(err.code, "MessageEntityAlreadyExistsError");
});

test("admin createTopic + createSubscription -> use -> delete", T, async () => {
  const admin = h.admin();
  const t = await admin.createTopic("adm-t");
  assert.equal(t.name, "adm-t");
  const s = await admin.createSubscription("adm-t", "adm-s", { maxDeliveryCount: 5 });
  assert.equal(s.topicName, "adm-t");
  assert.equal(s.subscriptionName, "adm-s");
  assert.equal(s.maxDeliveryCount, 5);
  const got = await admin.getSubscription("adm-t", "adm-s");
  assert.equal(got.subscriptionName, "adm-s");
  assert.equal(await admin.topicExists("adm-t"), true);
  assert.equal(await admin.subscriptionExists("adm-t", "adm-s"), true);

  const client = h.client();
  await client.createSender("adm-t").sendMessages({ body: { n: 1 }, messageId: "adm-t-1" });
  const r = client.createReceiver("adm-t", "adm-s", { receiveMode: "receiveAndDelete" });
  const [msg] = await receiveN(r, 1);
  assert.ok(msg, "created subscription did not receive the topic message");
  assert.deepEqual(msg.body, { n: 1 });
  await r.close();

  await admin.deleteSubscription("adm-t", "adm-s");
  assert.equal(await admin.subscriptionExists("adm-t", "adm-s"), false);
  await admin.deleteTopic("adm-t");
  assert.equal(await admin.topicExists("adm-t"), false);
});

test("admin getQueueRuntimeProperties counts active and dead-lettered messages; listQueues lists config queues", T, async () => {
  const admin = h.admin();
  const client = h.client();
  await client.createSender("count-q").sendMessages([1, 2, 3].map((i) => ({ body: i, messageId: `count-${i}` })));
  const r = client.createReceiver("count-q", { maxAutoLockRenewalDurationInMs: 0 });
  const [m] = await receiveN(r, 1);
  assert.ok(m);
  await r.deadLetterMessage(m, { deadLetterReason: "test" });
  const rt = await admin.getQueueRuntimeProperties("count-q");
  assert.equal(rt.name, "count-q");
  assert.equal(rt.activeMessageCount, 2);
  assert.equal(rt.deadLetterMessageCount, 1);
  const names = [];
  for await (const q of admin.listQueues()) names.push(q.name);
  for (const n of ["cfg-q", "cfg-sess-q", "count-q"]) assert.ok(names.includes(n), `listQueues misses ${n}: ${names.join(",")}`);
});

test("admin updateQueue changes properties (PUT with If-Match: *)", T, async () => {
  const admin = h.admin();
  await admin.createQueue("upd-q", { lockDuration: "PT30S", maxDeliveryCount: 5 });
  const q = await admin.getQueue("upd-q");
  q.lockDuration = "PT45S";
  q.maxDeliveryCount = 7;
  const updated = await admin.updateQueue(q);
  assert.equal(updated.lockDuration, "PT45S");
  assert.equal(updated.maxDeliveryCount, 7);
  const again = await admin.getQueue("upd-q");
  assert.equal(again.lockDuration, "PT45S");
  assert.equal(again.maxDeliveryCount, 7);
  await admin.deleteQueue("upd-q");
});

test("a subscription created later only gets messages sent after it exists", T, async () => {
  const admin = h.admin();
  const client = h.client();
  const sender = client.createSender("cfg-t");
  await sender.sendMessages({ body: "before", messageId: "late-before" });
  await admin.createSubscription("cfg-t", "late-s");
  await sender.sendMessages({ body: "after", messageId: "late-after" });
  const r = client.createReceiver("cfg-t", "late-s", { receiveMode: "receiveAndDelete" });
  const msgs = await receiveN(r, 2, { totalMs: 3000 });
  assert.deepEqual(
    msgs.map((m) => m.messageId),
    ["late-after"],
  );
  await r.close();
  await admin.deleteSubscription("cfg-t", "late-s");
  // drain the config subscriptions for other tests
  for (const sub of ["cfg-s1", "cfg-s2"]) {
    await receiveN(client.createReceiver("cfg-t", sub, { receiveMode: "receiveAndDelete" }), 2, { totalMs: 1500 });
  }
});
