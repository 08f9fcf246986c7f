"use strict";
// 9. Bad input: unknown entities, oversized messages, garbage on the socket.
// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messaging-exceptions-latest
// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas (256 KB message size, Standard tier)
const assert = require("node:assert/strict");
const net = require("node:net");
const { test, useBroker, queue, topic, subscription, receiveN, expectCode, sleep } = require("./support/broker");

const h = useBroker({
  queues: [queue("ok-q"), queue("size-q"), queue("after-garbage-q")],
  topics: [topic("bad-t", [subscription("bad-s")])],
});

const T = { timeout: 60_000 };
const NO_RETRY = { maxRetries: 0, timeoutInMs: 15_000 };

test("sending to an unknown queue fails with MessagingEntityNotFound", T, async () => {
  const client = h.client({ retryOptions: NO_RETRY });
  await expectCode(() => client.createSender("no-such-queue").sendMessages({ body: "x" }), "MessagingEntityNotFound", assert);
});

test("receiving from an unknown queue fails with MessagingEntityNotFound", T, async () => {
  const client = h.client({ retryOptions: NO_RETRY });
  await expectCode(
    () => client.createReceiver("no-such-queue").receiveMessages(1, { maxWaitTimeInMs: 1000 }),
    "MessagingEntityNotFound",
    assert,
  );
});

test("receiving from an unknown subscription of an existing topic fails with MessagingEntityNotFound", T, async () => {
  const client = h.client({ retryOptions: NO_RETRY });
  await expectCode(
    () => client.createReceiver("bad-t", "no-such-sub").receiveMessages(1, { maxWaitTimeInMs: 1000 }),
    "MessagingEntityNotFound",
    assert,
  );
});

test("a single message over 256 KiB is refused by the broker with MessageSizeExceeded", T, async () => {
  const client = h.client({ retryOptions: NO_RETRY });
  const sender = client.createSender("size-q");
  // A single message is not size-checked by the SDK: the broker must refuse it.
  await expectCode(
    () => sender.sendMessages({ body: Buffer.alloc(300 * 1024, 7), messageId: "too-big" }),
    "MessageSizeExceeded",
    assert,
  );
  // a message that fits still goes through afterwards
  await client.createSender("size-q").sendMessages({ body: Buffer.alloc(200 * 1024, 1), messageId: "fits" });
  const [m] = await receiveN(client.createReceiver("size-q", { receiveMode: "receiveAndDelete" }), 1);
  assert.ok(m, "a 200 KiB message was not delivered");
  assert.equal(m.messageId, "fits");
  assert.equal(m.body.length, 200 * 1024);
  const more = await client.createReceiver("size-q").receiveMessages(1, { maxWaitTimeInMs: 1000 });
  assert.equal(more.length, 0, "the oversized message was stored");
});

test("sendMessages([oversized]) is refused with MessageSizeExceeded (batch limit from the broker)", T, async () => {
  const client = h.client({ retryOptions: NO_RETRY });
  await expectCode(
    () => client.createSender("size-q").sendMessages([{ body: Buffer.alloc(300 * 1024) }]),
    "MessageSizeExceeded",
    assert,
  );
});

function rawExchange(port, payload, { waitMs = 1500 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks = [];
    let closed = false;
    sock.on("connect", () => {
      if (payload) sock.write(payload);
    });
    sock.on("data", (d) => chunks.push(d));
    sock.on("error", () => {});
    sock.on("close", () => {
      closed = true;
    });
    setTimeout(() => {
      const out = { reply: Buffer.concat(chunks), closedByPeer: closed };
      sock.destroy();
      resolve(out);
    }, waitMs);
  });
}

test("garbage TCP clients do not break the broker", T, async () => {
  const port = h.broker.port;
  // 1. random bytes
  await rawExchange(port, require("node:crypto").randomBytes(4096));
  // 2. wrong AMQP protocol header version: broker answers with its own header and closes (AMQP 1.0 §2.2)
  const badHeader = await rawExchange(port, Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]));
  if (badHeader.reply.length > 0) {
    assert.equal(badHeader.reply.subarray(0, 4).toString("latin1"), "AMQP", "reply to a bad header is not an AMQP header");
  }
  // 3. valid SASL header followed by a frame with an absurd size
  await rawExchange(
    port,
    Buffer.concat([Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00, 0x00])]),
  );
  // 4. valid AMQP header then a truncated frame, connection left hanging
  const hang = net.connect(port, "127.0.0.1");
  hang.on("error", () => {});
  hang.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02]));
  // 5. connect and close immediately, many times
  for (let i = 0; i < 20; i++) await rawExchange(port, null, { waitMs: 10 });
  // 6. an HTTP request for a nonsense path
  await rawExchange(port, Buffer.from("GET /%%%bad HTTP/1.1\r\nHost: x\r\n\r\n"));

  // the broker still serves real clients while the hanging connection is open
  const client = h.client();
  await client.createSender("after-garbage-q").sendMessages({ body: "still alive" });
  const [m] = await receiveN(client.createReceiver("after-garbage-q", { receiveMode: "receiveAndDelete" }), 1);
  hang.destroy();
  assert.ok(m, "broker stopped serving after garbage input");
  assert.equal(m.body, "still alive");
  assert.equal(h.broker.state.exited, false, "broker process exited");
  await sleep(100);
});
