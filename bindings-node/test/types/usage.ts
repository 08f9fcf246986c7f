// Typed usage of the public API, compiled with `tsc --noEmit` (npm run
// typecheck). Lines marked @ts-expect-error must fail to compile: they pin
// that the types reject what the runtime rejects.

import { Readable } from 'node:stream';
import {
  Infra,
  StrataError,
  ERROR_CODES,
  type ErrorCode,
  type Message,
  type ObjectAttrs,
  type ListEntry,
  type KeyTtl,
  type MigrationReport,
} from '@strata/runtime';

interface Order {
  id: string;
  total: number;
}

export async function usage(): Promise<void> {
  const infra: Infra = await Infra.load();
  await Infra.load('./infra.config.json');

  // Pub/sub: typed payloads.
  const orders = infra.topic<Order>('orders');
  const id: string = await orders.publish({ id: 'o-1', total: 12 }, { attributes: { source: 'web' }, orderingKey: 'o-1' });
  await orders.publish(Buffer.from('raw'));
  void id;
  await orders.publish('text');
  // @ts-expect-error: not an Order
  await orders.publish({ id: 1 });
  // @ts-expect-error: attributes are strings
  await orders.publish({ id: 'o', total: 1 }, { attributes: { n: 1 } });

  infra.subscribe<Order>('orders', 'send-email', async (msg: Message<Order>) => {
    const order: Order = msg.json();
    const data: Buffer = msg.data;
    const attempt: number = msg.deliveryAttempt;
    const when: Date = msg.publishTime;
    const key: string | undefined = msg.orderingKey;
    const attrs: Record<string, string> = msg.attributes;
    void [order, data, attempt, when, key, attrs, msg.id, msg.text()];
  }, { maxConcurrency: 32, minBackoffMs: 100, maxBackoffMs: 5_000, maxAttempts: 5, deadLetterTopic: 'orders-dead', handlerTimeoutMs: 30_000 });
  infra.subscribe('orders', 'sync', () => {});
  // @ts-expect-error: a handler is required
  infra.subscribe('orders', 'no-handler');
  // @ts-expect-error: unknown option
  infra.subscribe('orders', 'x', () => {}, { concurrency: 3 });

  // Objects.
  const uploads = infra.bucket('uploads');
  const meta: ObjectAttrs = await uploads.upload('a.png', Buffer.from([1]), { contentType: 'image/png', metadata: { by: 'me' }, ifNotExists: true });
  await uploads.upload('b.txt', 'text', { ifMatch: meta.etag });
  await uploads.upload('c.bin', Readable.from([Buffer.from('x')]));
  const whole: Buffer = await uploads.download('a.png');
  const part: Buffer = await uploads.download('a.png', { start: 0, end: 1 });
  const stream: Readable = uploads.downloadStream('a.png');
  const attrs: ObjectAttrs = await uploads.attrs('a.png');
  const exists: boolean = await uploads.exists('a.png');
  await uploads.delete('a.png');
  await uploads.copy('a.png', 'b.png', { ifNotExists: true });
  for await (const entry of uploads.list({ prefix: 'img/', delimiter: '/' })) {
    const e: ListEntry = entry;
    if (e.kind === 'object') {
      const size: number = e.size;
      void size;
    } else {
      const prefix: string = e.key;
      void prefix;
    }
  }
  const canSign: boolean = uploads.capabilities().signedUrls;
  const url: string = canSign
    ? await uploads.signedUrl('a.png', { method: 'PUT', expiresInSeconds: 60, contentType: 'image/png' })
    : uploads.publicUrl('a.png');
  const publicUrl: string = uploads.publicUrl('a.png');
  // @ts-expect-error: numbers are not bodies
  await uploads.upload('n', 42);
  void [whole, part, stream, attrs, exists, url, publicUrl];

  // Cache.
  const sessions = infra.cache('sessions');
  await sessions.set('user:1', 'alice', { ttl: 60_000 });
  await sessions.set('user:2', Buffer.from('bob'), { ttl: 'keep' });
  const name: string | null = await sessions.get('user:1');
  const bytes: Buffer | null = await sessions.getBytes('user:2');
  const wrote: boolean = await sessions.setIfAbsent('lock', 'me', { ttl: 'persist' });
  const replaced: boolean = await sessions.replace('lock', 'you');
  const many: Array<string | null> = await sessions.getMany(['a', 'b']);
  await sessions.setMany({ a: '1', b: '2' });
  await sessions.setMany([['c', '3']]);
  const deleted: number = await sessions.delete(['a', 'b']);
  const visits: number | bigint = await sessions.incr('visits', 1);
  await sessions.decr('visits');
  await sessions.setInt('n', 5n);
  const n: number | bigint | null = await sessions.getInt('n');
  await sessions.setFloat('f', 1.5);
  const f: number = await sessions.incrFloat('f', 0.5);
  const fl: number | null = await sessions.getFloat('f');
  const len: number = await sessions.pushBack('q', ['a', 'b']);
  await sessions.pushFront('q', 'z');
  const head: string | null = await sessions.popFront('q');
  await sessions.popBack('q');
  const items: string[] = await sessions.listRange('q', 0, -1);
  await sessions.listLen('q');
  await sessions.setAdd('s', ['x']);
  await sessions.setRemove('s', 'x');
  const members: string[] = await sessions.setMembers('s');
  const has: boolean = await sessions.setContains('s', 'x');
  await sessions.setLen('s');
  const ttl: KeyTtl = await sessions.ttl('user:1');
  if (ttl.state === 'expires') {
    const ms: number = ttl.ms;
    void ms;
  }
  await sessions.expire('user:1', 1_000);
  await sessions.persist('user:1');
  // @ts-expect-error: numbers are not cache values
  await sessions.set('k', 42);
  // @ts-expect-error: unknown TTL mode
  await sessions.set('k', 'v', { ttl: 'forever' });
  void [name, bytes, wrote, replaced, many, deleted, visits, n, f, fl, len, head, items, members, has];

  // Database.
  const db = infra.database('main');
  interface User { id: number; name: string }
  const users: User[] = await db.query<User>('SELECT id, name FROM users WHERE name = $1', ['ada']);
  const one: User | undefined = await db.queryOne<User>('SELECT id, name FROM users WHERE id = $1', [1]);
  const affected: number = await db.execute('UPDATE users SET seen = $1, data = $2, doc = $3, big = $4', [new Date(), Buffer.from('x'), { a: 1 }, 10n]);
  const total: number = await db.transaction(async (tx) => {
    const a = await tx.execute('UPDATE a SET x = x - 1');
    const rows = await tx.query('SELECT 1 AS one');
    return a + rows.length;
  });
  const report: MigrationReport = await db.migrate('./migrations');
  // @ts-expect-error: parameters are an array
  await db.query('SELECT $1', 'ada');
  void [users, one, affected, total, report];

  // Errors.
  try {
    await uploads.attrs('missing');
  } catch (err) {
    if (err instanceof StrataError) {
      const code: ErrorCode = err.code;
      const retry: boolean = err.retryable;
      void [code, retry];
    }
  }
  const codes: readonly ErrorCode[] = ERROR_CODES;
  void codes;
  await infra.close();
}
