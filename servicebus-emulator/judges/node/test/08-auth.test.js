"use strict";
// 8. Authorization: CBS put-token with SAS tokens.
// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas
// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-protocol-guide#claims-based-authorization
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { test, useBroker, queue, receiveN, expectCode, KEY, KEY_NAME } = require("./support/broker");

const h = useBroker({ queues: [queue("auth-q")] });

const T = { timeout: 60_000 };
const NO_RETRY = { maxRetries: 0, timeoutInMs: 15_000 };

/** Same algorithm as @azure/core-amqp createToken. */
function sasToken(resourceUri, keyName, key, expiryUnixSeconds) {
  const sr = encodeURIComponent(resourceUri);
  const sig = encodeURIComponent(crypto.createHmac("sha256", key).update(`${sr}\n${expiryUnixSeconds}`).digest("base64"));
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${expiryUnixSeconds}&skn=${encodeURIComponent(keyName)}`;
}

test("valid key: send and receive work (control)", T, async () => {
  const client = h.client({ retryOptions: NO_RETRY });
  await client.createSender("auth-q").sendMessages({ body: "ok" });
  const [m] = await receiveN(client.createReceiver("auth-q", { receiveMode: "receiveAndDelete" }), 1);
  assert.ok(m);
  assert.equal(m.body, "ok");
});

test("wrong SAS key: sending fails with UnauthorizedAccess", T, async () => {
  const cs = h.broker.connectionStringWith({ SharedAccessKey: "WRONG_KEY_VALUE" });
  const client = h.clientFor(cs, { retryOptions: NO_RETRY });
  await expectCode(() => client.createSender("auth-q").sendMessages({ body: "nope" }), "UnauthorizedAccess", assert);
});

test("wrong SAS key: receiving fails with UnauthorizedAccess", T, async () => {
  const cs = h.broker.connectionStringWith({ SharedAccessKey: "WRONG_KEY_VALUE" });
  const client = h.clientFor(cs, { retryOptions: NO_RETRY });
  await expectCode(
    () => client.createReceiver("auth-q").receiveMessages(1, { maxWaitTimeInMs: 1000 }),
    "UnauthorizedAccess",
    assert,
  );
});

test("unknown SharedAccessKeyName fails with UnauthorizedAccess", T, async () => {
  const cs = h.broker.connectionStringWith({ SharedAccessKeyName: "NoSuchPolicy" });
  const client = h.clientFor(cs, { retryOptions: NO_RETRY });
  await expectCode(() => client.createSender("auth-q").sendMessages({ body: "nope" }), "UnauthorizedAccess", assert);
});

test("expired SAS token is refused with UnauthorizedAccess (a fresh one with the same key works)", T, async () => {
  // The SDK always mints fresh tokens from a key, so replace its token provider (SAS-token provider shape
  // from @azure/core-amqp) with one that signs correctly but with an expiry in the past.
  const make = (expiry) => ({
    isSasTokenProvider: true,
    async getToken(audience) {
      return { token: sasToken(audience, KEY_NAME, KEY, expiry), expiresOnTimestamp: expiry };
    },
  });
  const now = Math.floor(Date.now() / 1000);

  const expired = h.client({ retryOptions: NO_RETRY });
  assert.ok(expired._connectionContext, "SDK internals changed: no _connectionContext");
  expired._connectionContext.tokenCredential = make(now - 600);
  await expectCode(() => expired.createSender("auth-q").sendMessages({ body: "late" }), "UnauthorizedAccess", assert);

  const fresh = h.client({ retryOptions: NO_RETRY });
  fresh._connectionContext.tokenCredential = make(now + 600);
  await fresh.createSender("auth-q").sendMessages({ body: "fresh" });
  const [m] = await receiveN(fresh.createReceiver("auth-q", { receiveMode: "receiveAndDelete" }), 1);
  assert.ok(m);
  assert.equal(m.body, "fresh");
});

test("SharedAccessSignature connection string (no SASL layer): valid token works, expired token is refused", T, async () => {
  // With SharedAccessSignature=... and no key name, rhea opens the connection WITHOUT SASL (plain AMQP header).
  const now = Math.floor(Date.now() / 1000);
  const ns = `sb://127.0.0.1:${h.broker.port}/`;
  const good = h.broker.connectionStringWith({
    SharedAccessKeyName: undefined,
    SharedAccessKey: undefined,
    SharedAccessSignature: sasToken(ns, KEY_NAME, KEY, now + 600),
  });
  const c1 = h.clientFor(good, { retryOptions: NO_RETRY });
  await c1.createSender("auth-q").sendMessages({ body: "sas-string" });
  const [m] = await receiveN(c1.createReceiver("auth-q", { receiveMode: "receiveAndDelete" }), 1);
  assert.ok(m, "namespace-scoped SAS token did not grant access to the queue");
  assert.equal(m.body, "sas-string");

  const bad = h.broker.connectionStringWith({
    SharedAccessKeyName: undefined,
    SharedAccessKey: undefined,
    SharedAccessSignature: sasToken(ns, KEY_NAME, KEY, now - 600),
  });
  const c2 = h.clientFor(bad, { retryOptions: NO_RETRY });
  await expectCode(() => c2.createSender("auth-q").sendMessages({ body: "x" }), "UnauthorizedAccess", assert);
});

test("admin client with a wrong key gets HTTP 401", T, async () => {
  const admin = h.admin(h.broker.connectionStringWith({ SharedAccessKey: "WRONG_KEY_VALUE" }));
  const err = await admin.getQueue("auth-q").then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err, "admin request with a wrong key succeeded");
  assert.equal(err.statusCode, 401, `${err.statusCode} ${err.code}: ${err.message}`);
});
