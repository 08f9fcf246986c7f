"use strict";
// Shared harness for the Node judge: starts a PRIVATE Strata Service Bus emulator per test file,
// builds Microsoft-SDK clients against it, and tears everything down afterwards.
//
// Broker interface (fixed):
//   servicebus-emulator --config FILE --port N [--host 127.0.0.1] [--data-dir DIR]
//   prints "servicebus-emulator listening on 127.0.0.1:N" on stdout when ready.
// Binary: $STRATA_SERVICEBUS_BIN, else <repo>/target/debug/servicebus-emulator,
//         else <repo>/target/<host-triple>/debug/servicebus-emulator ($CARGO_TARGET_DIR honoured).

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const net = require("node:net");
const { spawn } = require("node:child_process");
const { before, after, beforeEach, afterEach, test: nodeTest } = require("node:test");
const {
  ServiceBusClient,
  ServiceBusAdministrationClient,
} = require("@azure/service-bus");

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..", "..", "..");
const KEY_NAME = "RootManageSharedAccessKey";
const KEY = "SAS_KEY_VALUE";
const READY_TIMEOUT_MS = 10_000;

function candidateBinaries() {
  const out = [];
  if (process.env.STRATA_SERVICEBUS_BIN) return [path.resolve(process.env.STRATA_SERVICEBUS_BIN)];
  const targets = [];
  if (process.env.CARGO_TARGET_DIR) targets.push(path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR));
  targets.push(path.join(REPO_ROOT, "target"));
  for (const t of targets) {
    out.push(path.join(t, "debug", "servicebus-emulator"));
    let entries = [];
    try {
      entries = fs.readdirSync(t, { withFileTypes: true });
    } catch {
      /* no target dir */
    }
    for (const e of entries) {
      if (e.isDirectory() && e.name.includes("-")) {
        out.push(path.join(t, e.name, "debug", "servicebus-emulator"));
      }
    }
  }
  return out;
}

function findBinary() {
  const candidates = candidateBinaries();
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      /* try next */
    }
  }
  throw new Error(
    `servicebus-emulator binary not found; looked at:\n  ${candidates.join("\n  ")}\n` +
      `Build it (cargo build -p servicebus-emulator) or set STRATA_SERVICEBUS_BIN.`,
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- config (Microsoft emulator Config.json shape) -------------------------------------------

function queue(name, props = {}) {
  return {
    Name: name,
    Properties: {
      DeadLetteringOnMessageExpiration: false,
      DefaultMessageTimeToLive: "PT1H",
      DuplicateDetectionHistoryTimeWindow: "PT20S",
      ForwardDeadLetteredMessagesTo: "",
      ForwardTo: "",
      LockDuration: "PT30S",
      MaxDeliveryCount: 10,
      RequiresDuplicateDetection: false,
      RequiresSession: false,
      ...props,
    },
  };
}

function subscription(name, props = {}) {
  return {
    Name: name,
    Properties: {
      DeadLetteringOnMessageExpiration: false,
      DefaultMessageTimeToLive: "PT1H",
      LockDuration: "PT30S",
      MaxDeliveryCount: 10,
      ForwardDeadLetteredMessagesTo: "",
      ForwardTo: "",
      RequiresSession: false,
      ...props,
    },
  };
}

function topic(name, subscriptions = [], props = {}) {
  return {
    Name: name,
    Properties: {
      DefaultMessageTimeToLive: "PT1H",
      DuplicateDetectionHistoryTimeWindow: "PT20S",
      RequiresDuplicateDetection: false,
      ...props,
    },
    Subscriptions: subscriptions,
  };
}

function buildConfig({ queues = [], topics = [], namespace = {} } = {}) {
  return {
    UserConfig: {
      Namespaces: [
        {
          Name: "sbemulatorns",
          SharedAccessPolicies: [{ Name: KEY_NAME, Key: KEY }],
          MaxMessageSizeInKilobytes: 256,
          ...namespace,
          Queues: queues,
          Topics: topics,
        },
      ],
      Logging: { Type: "Console" },
    },
  };
}

// ---- broker process --------------------------------------------------------------------------

async function startBroker(spec = {}) {
  const bin = findBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-judge-node-"));
  const configPath = path.join(dir, "Config.json");
  fs.writeFileSync(configPath, JSON.stringify(buildConfig(spec), null, 2));
  const dataDir = path.join(dir, "data");
  fs.mkdirSync(dataDir);
  const port = await freePort();
  const args = ["--config", configPath, "--port", String(port), "--host", "127.0.0.1", "--data-dir", dataDir];
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  let stdout = "";
  let stderr = "";
  const echo = !!process.env.JUDGE_BROKER_LOG;
  child.stdout.on("data", (d) => {
    stdout += d;
    if (echo) process.stderr.write(`[broker:${port} out] ${d}`);
  });
  child.stderr.on("data", (d) => {
    stderr += d;
    if (stderr.length > 4_000_000) stderr = stderr.slice(-2_000_000);
    if (echo) process.stderr.write(`[broker:${port} err] ${d}`);
  });
  const state = { exited: false, code: null, signal: null, stopping: false };
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      Object.assign(state, { exited: true, code, signal });
      resolve();
    });
  });
  const ready = `servicebus-emulator listening on 127.0.0.1:${port}`;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`broker did not print "${ready}" within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    const onData = () => {
      if (stdout.includes(ready)) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`broker exited before ready (code ${code}, signal ${signal})`));
    };
    const onError = (err) => {
      cleanup();
      reject(err);
    };
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
    }
    child.stdout.on("data", onData);
    child.on("exit", onExit);
    child.on("error", onError);
    onData();
  }).catch((err) => {
    child.kill("SIGKILL");
    process.stderr.write(
      `\n---- broker ${bin} ${args.join(" ")} failed to start ----\nstdout:\n${stdout}\nstderr:\n${stderr}\n----\n`,
    );
    throw err;
  });

  const connectionString =
    `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=${KEY_NAME};` +
    `SharedAccessKey=${KEY};UseDevelopmentEmulator=true`;

  return {
    port,
    host: "127.0.0.1",
    dir,
    bin,
    connectionString,
    connectionStringWith(overrides) {
      const parts = { Endpoint: `sb://127.0.0.1:${port}`, SharedAccessKeyName: KEY_NAME, SharedAccessKey: KEY, UseDevelopmentEmulator: "true", ...overrides };
      return Object.entries(parts)
        .filter(([, v]) => v !== undefined && v !== null)
        .map(([k, v]) => `${k}=${v}`)
        .join(";");
    },
    get stderr() {
      return stderr;
    },
    get stdout() {
      return stdout;
    },
    get state() {
      return state;
    },
    async stop() {
      state.stopping = true;
      if (!state.exited) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- SDK clients -----------------------------------------------------------------------------

// Fast, bounded retries so failing behaviour shows up quickly instead of after 3 x 30 s.
const FAST_RETRY = { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000, timeoutInMs: 20_000 };
const NO_RETRY = { maxRetries: 0, timeoutInMs: 15_000 };

// @azure/service-bus 7.9.5's ServiceBusAdministrationClient ignores UseDevelopmentEmulator and always
// builds https://host:port/... URLs (dist/index.js getUrl). The emulator serves plain HTTP on the AMQP
// port, so the judge rewrites the scheme after the SDK has signed the request (the SAS `sr` still names
// the https URL, exactly as the SDK produced it).
const emulatorHttpPolicy = {
  name: "strataEmulatorPlainHttp",
  async sendRequest(request, next) {
    if (request.url.startsWith("https://")) request.url = "http://" + request.url.slice("https://".length);
    request.allowInsecureConnection = true;
    return next(request);
  },
};

function makeAdminClient(connectionString) {
  const admin = new ServiceBusAdministrationClient(connectionString);
  admin.pipeline.addPolicy(emulatorHttpPolicy, { afterPolicies: ["signingPolicy"] });
  return admin;
}

const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Closes SDK clients, bounded: ServiceBusClient.close() can hang for ever when the broker breaks the
 * AMQP connection (e.g. a protocol error), and node:test does not time out hooks. A hang is reported
 * as a failure of the test that left the client behind.
 */
async function closeAll(clients) {
  if (clients.length === 0) return;
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve("timeout"), CLOSE_TIMEOUT_MS);
  });
  const res = await Promise.race([Promise.allSettled(clients.map((c) => c.close())), timedOut]);
  clearTimeout(timer);
  if (res === "timeout") {
    throw new Error(`ServiceBusClient.close() did not finish within ${CLOSE_TIMEOUT_MS} ms (broken AMQP connection?)`);
  }
}

/**
 * Registers before/after hooks for one test file: a private broker with the given entities, and
 * clients that are closed after every test.
 */
function useBroker(spec) {
  const h = {
    broker: undefined,
    clients: [],
    get connectionString() {
      return h.broker.connectionString;
    },
    client(options = {}) {
      const c = new ServiceBusClient(h.broker.connectionString, { retryOptions: FAST_RETRY, ...options });
      h.clients.push(c);
      return c;
    },
    clientFor(connectionString, options = {}) {
      const c = new ServiceBusClient(connectionString, { retryOptions: FAST_RETRY, ...options });
      h.clients.push(c);
      return c;
    },
    admin(connectionString) {
      return makeAdminClient(connectionString ?? h.broker.connectionString);
    },
  };
  before(async () => {
    h.broker = await startBroker(spec);
  });
  let stderrMark = 0;
  beforeEach(() => {
    stderrMark = h.broker ? h.broker.stderr.length : 0;
  });
  afterEach(async (t) => {
    // On failure, show what the broker logged during this test (STRATA_SERVICEBUS_LOG=debug for more).
    if (t && t.passed === false && h.broker) {
      const log = h.broker.stderr.slice(stderrMark);
      if (log.trim()) {
        process.stderr.write(`\n---- broker stderr during "${t.name}" ----\n${log.slice(-8000)}\n----\n`);
      }
    }
    await closeAll(h.clients.splice(0));
  });
  after(async () => {
    await closeAll(h.clients.splice(0)).catch(() => {});
    if (!h.broker) return;
    const st = h.broker.state;
    const crashed = st.exited && !st.stopping;
    const tail = h.broker.stderr.slice(-20000);
    await h.broker.stop();
    if (crashed) {
      process.stderr.write(`\n---- broker stderr (tail) ----\n${tail}\n----\n`);
      throw new Error(`broker died during the tests (code ${st.code}, signal ${st.signal})`);
    }
  });
  return h;
}

// ---- small helpers ---------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Receive until `count` messages arrived or `totalMs` elapsed. */
async function receiveN(receiver, count, { totalMs = 15_000, perCallWaitMs = 2_000 } = {}) {
  const out = [];
  const deadline = Date.now() + totalMs;
  while (out.length < count && Date.now() < deadline) {
    const batch = await receiver.receiveMessages(count - out.length, {
      maxWaitTimeInMs: Math.min(perCallWaitMs, Math.max(100, deadline - Date.now())),
    });
    out.push(...batch);
  }
  return out;
}

/** Asserts `fn` rejects with a ServiceBusError (or RestError) whose `code` is `code`. */
async function expectCode(fn, code, assert) {
  let caught;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected an error with code ${code}, but the call succeeded`);
  assert.strictEqual(
    caught.code,
    code,
    `expected code ${code}, got ${caught.code} (${caught.name}: ${caught.message})`,
  );
  return caught;
}

/**
 * node:test's `test`, but a failure caused by an SDK error shows its `code` (ServiceBusError messages
 * are sometimes empty, e.g. UnauthorizedAccess from a refused link).
 */
function test(name, options, fn) {
  return nodeTest(name, options, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      if (err && typeof err === "object" && err.name !== "AssertionError" && err.code && !String(err.message).includes(String(err.code))) {
        try {
          err.message = `[${err.name || "Error"} code=${err.code}] ${err.message}`;
        } catch {
          /* read-only message */
        }
      }
      throw err;
    }
  });
}

module.exports = {
  test,
  REPO_ROOT,
  KEY_NAME,
  KEY,
  FAST_RETRY,
  NO_RETRY,
  queue,
  topic,
  subscription,
  buildConfig,
  startBroker,
  useBroker,
  makeAdminClient,
  findBinary,
  sleep,
  receiveN,
  expectCode,
};
