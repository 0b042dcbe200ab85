import assert from "node:assert/strict";
import { parseMessage } from "../mail/parse.ts";
import { storeTest } from "../tests/harness.ts";
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

storeTest("a message just stored is in the cache exactly as the database returns it", async (_t, { store }) => {
  await store.domains.add("example.test");
  const a = await store.accounts.create("a@example.test", "correct horse battery");
  const inbox = (await store.mailboxes.get(a.id, "INBOX"))!;
  const sent = (await store.mailboxes.get(a.id, "Sent"))!;
  const raw = new TextEncoder().encode(
    "From: A <a@example.test>\r\nTo: b@example.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
      "Message-ID: <cached-1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
      "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n" +
      "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
  );
  const delivered = await store.messages.deliver({
    raw,
    parsed: parseMessage(raw),
    targets: [{ mailboxId: inbox.id }, { mailboxId: sent.id, keepMessageId: true }],
  });
  const appended = await store.messages.append(inbox.id, {
    raw,
    parsed: parseMessage(raw),
    flags: [],
    internalDate: new Date("2025-03-04T05:06:07.089Z"),
  });
  for (const [mailboxId, uid] of [...delivered.map((d) => [d.mailboxId, d.uid]), [inbox.id, appended.uid]]) {
    const cached = store.messages.cache.get(mailboxId!, uid!);
    assert.ok(cached?.content, `${mailboxId}:${uid} cached with its content`);
    const [stored] = await store.messages.meta(mailboxId!, [[uid!, uid!]], { structure: true, content: true });
    const { flags: _f, modseq: _m, ...immutable } = stored!;
    assert.deepEqual({ ...cached, content: [...cached.content] }, { ...immutable, content: [...stored!.content!] });
  }
});
