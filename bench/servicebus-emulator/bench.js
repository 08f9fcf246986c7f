"use strict";
// The Service Bus emulator's throughput and memory, with Microsoft's Node SDK as the client.
// Prints one JSON line. Run through run.sh, which starts a release build of the broker.
const fs = require("node:fs");
const { Worker, isMainThread, parentPort, workerData } = require("node:worker_threads");
const { ServiceBusClient } = require("@azure/service-bus");

const port = process.env.BENCH_PORT;
const brokerPid = Number(process.env.BENCH_BROKER_PID);
const N = Number(process.env.BENCH_MESSAGES || 100_000);
const SIZE = Number(process.env.BENCH_SIZE || 256);
const BATCH = Number(process.env.BENCH_BATCH || 100);
const INFLIGHT = Number(process.env.BENCH_INFLIGHT || 8);
const RECEIVE = Number(process.env.BENCH_RECEIVE || 500);
// Client threads, each with its own connection: one Node thread cannot keep the broker busy.
const WORKERS = Number(process.env.BENCH_WORKERS || 2);

const cs = `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true`;

// Broker CPU seconds (user + system) and resident memory, from /proc.
function brokerCpu() {
  const fields = fs.readFileSync(`/proc/${brokerPid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
function brokerRssMiB() {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${brokerPid}/status`, "utf8"));
  return Number(m[1]) / 1024;
}
function clientCpu() {
  // The whole process: every worker thread's CPU counts.
  const fields = fs.readFileSync(`/proc/self/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// Runs `task` ("send" | "peekLock" | "receiveAndDelete") for `count` messages split over the workers.
function inWorkers(task, count) {
  const share = Math.ceil(count / WORKERS);
  return Promise.all(
    Array.from({ length: WORKERS }, (_, i) => {
      const n = Math.min(share, count - i * share);
      return new Promise((resolve, reject) => {
        const w = new Worker(__filename, { workerData: { task, n } });
        w.on("message", resolve);
        w.on("error", reject);
        w.on("exit", (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
      });
    }),
  );
}

async function measure(label, count, fn) {
  const [t0, b0, c0] = [process.hrtime.bigint(), brokerCpu(), clientCpu()];
  await fn();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const broker = brokerCpu() - b0;
  const client = clientCpu() - c0;
  return {
    pass: label,
    messages: count,
    seconds: +secs.toFixed(2),
    msgs_per_s: Math.round(count / secs),
    broker_cpu_us_per_msg: +((broker / count) * 1e6).toFixed(1),
    client_cpu_us_per_msg: +((client / count) * 1e6).toFixed(1),
    broker_busy: +(broker / secs).toFixed(2),
  };
}

async function send(client, queue, count) {
  const sender = client.createSender(queue);
  const body = Buffer.alloc(SIZE, 120);
  let next = 0;
  async function worker() {
    while (next < count) {
      const n = Math.min(BATCH, count - next);
      next += n;
      const batch = await sender.createMessageBatch();
      for (let i = 0; i < n; i++) {
        if (!batch.tryAddMessage({ body })) throw new Error("batch full");
      }
      await sender.sendMessages(batch);
    }
  }
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  await sender.close();
}

async function receive(client, queue, count, mode) {
  const receiver = client.createReceiver(queue, { receiveMode: mode, maxAutoLockRenewalDurationInMs: 0 });
  let got = 0;
  while (got < count) {
    const msgs = await receiver.receiveMessages(Math.min(RECEIVE, count - got), { maxWaitTimeInMs: 5000 });
    if (msgs.length === 0) throw new Error(`only ${got} of ${count} messages came back`);
    if (mode === "peekLock") await Promise.all(msgs.map((m) => receiver.completeMessage(m)));
    got += msgs.length;
  }
  await receiver.close();
}

async function work({ task, n }) {
  const client = new ServiceBusClient(cs);
  if (task === "send") await send(client, "bench", n);
  else await receive(client, "bench", n, task);
  await client.close();
}

if (!isMainThread) {
  work(workerData).then(
    () => parentPort.postMessage("done"),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
  return;
}

(async () => {
  const rss0 = brokerRssMiB();
  const results = [];
  const w = `${WORKERS} client threads`;
  results.push(await measure(`send (batches of ${BATCH}, ${INFLIGHT} in flight per thread, ${w})`, N, () => inWorkers("send", N)));
  const rssQueued = brokerRssMiB();
  const half = Math.floor(N / 2);
  results.push(await measure(`receive + complete (peekLock, ${RECEIVE} per call, ${w})`, half, () => inWorkers("peekLock", half)));
  results.push(await measure(`receive (receiveAndDelete, ${RECEIVE} per call, ${w})`, N - half, () => inWorkers("receiveAndDelete", N - half)));
  console.log(JSON.stringify({
    size_bytes: SIZE,
    results,
    broker_rss_idle_mib: +rss0.toFixed(1),
    broker_rss_queued_mib: +rssQueued.toFixed(1),
    mib_per_100k_queued: +(((rssQueued - rss0) * 100_000) / N).toFixed(1),
  }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
