import assert from "node:assert/strict";
import { type CachedMessage, MessageCache } from "./message_cache.ts";

function entry(uid: number, contentBytes?: number): CachedMessage {
  return {
    uid,
    internalDate: new Date(0),
    size: contentBytes ?? 100,
    messageId: null,
    hash: `h${uid}`,
    structure: { uid },
    ...(contentBytes === undefined ? {} : { content: new Uint8Array(contentBytes) }),
  };
}

Deno.test("MessageCache keeps messages by mailbox and UID, least recently used out first, within its bytes", () => {
  const each = 256 + 1000 + 2 * JSON.stringify({ uid: 1 }).length; // content, structure, entry
  const cache = new MessageCache(3 * each + 100);
  for (const uid of [1, 2, 3]) cache.set(7, entry(uid, 1000));
  assert(cache.get(7, 1)); // 1 is now the most recent: 2 goes first
  assert.ok(!cache.get(8, 1), "another mailbox's UID 1 is another message");
  cache.set(7, entry(4, 1000));
  assert.ok(!cache.get(7, 2));
  assert.ok(cache.get(7, 1) && cache.get(7, 3) && cache.get(7, 4));
  assert.ok(cache.bytes <= 3 * each + 100);
});

Deno.test("MessageCache: a read without content keeps the content known; huge contents are not kept", () => {
  const cache = new MessageCache(10 * 1048576);
  cache.set(1, entry(1, 500));
  cache.set(1, entry(1));
  assert.equal(cache.get(1, 1)?.content?.byteLength, 500);
  cache.set(1, entry(2, 5 * 1048576));
  const big = cache.get(1, 2);
  assert.ok(big && big.content === undefined && big.structure);
  const off = new MessageCache(0);
  off.set(1, entry(1, 10));
  assert.ok(!off.get(1, 1), "0 bytes: no cache");
});
