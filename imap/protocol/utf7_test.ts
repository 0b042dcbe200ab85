import { deepEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { decodeModifiedUtf7, encodeModifiedUtf7 } from "./utf7.ts";

// [Unicode name, modified UTF-7 wire form]
const ROUND_TRIPS: [string, string][] = [
  ["INBOX", "INBOX"],
  ["", ""],
  ["&", "&-"],
  ["a&b", "a&-b"],
  ["&&", "&-&-"],
  ["Entwürfe", "Entw&APw-rfe"],
  ["Gelöschte Elemente", "Gel&APY-schte Elemente"],
  ["Éléments envoyés", "&AMk-l&AOk-ments envoy&AOk-s"],
  // RFC 3501 §5.1.3's example.
  ["~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"],
  ["Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"],
  ["é&", "&AOk-&-"],
  ["&é", "&-&AOk-"],
  // Non-BMP: U+1F600 is the surrogate pair D83D DE00.
  ["😀", "&2D3eAA-"],
  ["Ordner 😀 Ü", "Ordner &2D3eAA- &ANw-"],
  // A tab (a control character) can be encoded; the mailbox-name check refuses it later.
  ["a\tb", "a&AAk-b"],
  ["~/-+,.", "~/-+,."],
];

Deno.test("encodeModifiedUtf7() and decodeModifiedUtf7() round-trip", async (t) => {
  for (const [name, wire] of ROUND_TRIPS) {
    await t.step(JSON.stringify(name), () => {
      assertEquals(encodeModifiedUtf7(name), wire);
      assertEquals(decodeModifiedUtf7(wire), name);
    });
  }
});

// Wire forms that are not canonical modified UTF-7.
const INVALID: [string, RegExp][] = [
  ["&", /unterminated/],
  ["a&AOk", /unterminated/],
  ["&AOk-&AOk-", /adjacent/],
  ["&AGE-", /printable ASCII/], // "a" encoded
  ["&ACY-", /printable ASCII/], // "&" encoded instead of "&-"
  ["&AOl-", /padding/], // non-zero padding bits
  ["&AA-", /odd number/], // one octet
  ["&AAAA-", /odd number/], // three octets
  ["&2D0-", /lone surrogate/], // D83D alone
  ["&3gA-", /lone surrogate/], // DE00 alone
  ["&AO*-", /invalid character/],
  ["&AO/-", /invalid character/], // "/" is "," in modified BASE64
  ["&AOk=-", /invalid character/], // no padding "="
  ["Entwürfe", /8-bit/],
  ["a\tb", /control/],
  ["a\x00b", /control/],
];

Deno.test("decodeModifiedUtf7() refuses invalid and non-canonical forms", async (t) => {
  for (const [wire, why] of INVALID) {
    await t.step(JSON.stringify(wire), () => {
      assertThrows(() => decodeModifiedUtf7(wire), (e: Error) => e instanceof SyntaxError && why.test(e.message));
    });
  }
});

Deno.test("encodeModifiedUtf7() refuses lone surrogates", () => {
  assertThrows(() => encodeModifiedUtf7("a\ud83d"), TypeError);
  assertThrows(() => encodeModifiedUtf7("\ude00b"), TypeError);
});

Deno.test("encodeModifiedUtf7() output always decodes back (all BMP blocks and some astral)", () => {
  for (let cp = 0x20; cp < 0x30000; cp += 97) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = `x${String.fromCodePoint(cp)}${
      String.fromCodePoint(cp + 1 > 0xd7ff && cp + 1 < 0xe000 ? 0xe000 : cp + 1)
    }y`;
    assertEquals(decodeModifiedUtf7(encodeModifiedUtf7(s)), s);
  }
});
