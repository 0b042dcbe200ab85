/**
 * @module
 * `deno run bench/mime.ts`: how long {@linkcode parseMessage} takes per message for a typical 4 KB message
 * (multipart/alternative, text and HTML) and for 10 MB and 30 MB messages with a big base64 attachment. Prints
 * figures; it is not a test.
 */
import { parseMessage } from "../mail/parse.ts";

function base64Lines(bytes: number): string {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  let bin = "";
  for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(bin).replace(/.{76}/g, "$&\r\n");
}

function message(attachment: number): Uint8Array {
  const text = "Hello Bob,\r\n\r\nthe quarterly numbers are attached. Caf=C3=A9 is on me.\r\n".repeat(24);
  const html =
    `<html><body><p>Hello <b>Bob</b>,</p><p>the quarterly numbers are attached. Caf&eacute;.</p></body></html>\r\n`
      .repeat(16);
  let m = "Return-Path: <alice@example.org>\r\nReceived: from mx.example.org by mail.example.com; " +
    "Mon, 3 Feb 2025 10:00:00 +0000\r\nDate: Mon, 3 Feb 2025 09:59:58 +0100\r\n" +
    'From: "Alice Example" <alice@example.org>\r\nTo: Bob <bob@example.com>, carol@example.com\r\n' +
    "Subject: =?UTF-8?Q?Quarterly_numbers_=E2=82=AC?=\r\nMessage-ID: <bench.1@example.org>\r\n" +
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mixed"\r\n\r\n--mixed\r\n' +
    'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n--alt\r\n' +
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + text +
    "\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--alt--\r\n";
  if (attachment > 0) {
    m += '--mixed\r\nContent-Type: application/pdf; name="numbers.pdf"\r\n' +
      'Content-Disposition: attachment; filename="numbers.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      base64Lines(attachment) + "\r\n";
  }
  return new TextEncoder().encode(m + "--mixed--\r\n");
}

function bench(label: string, raw: Uint8Array, runs: number): void {
  for (let i = 0; i < Math.min(runs, 50); i++) parseMessage(raw); // warm up
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) parseMessage(raw);
  const ms = (performance.now() - t0) / runs;
  const per = ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`;
  console.log(`${label.padEnd(8)} ${String(raw.length).padStart(10)} bytes  ${per} per message  (${runs} runs)`);
}

bench("4 KB", message(0), 20000);
bench("10 MB", message(7.5 * 1024 * 1024), 20);
const big = message(22.5 * 1024 * 1024);
const before = Deno.memoryUsage().heapUsed;
const kept = parseMessage(big);
const after = Deno.memoryUsage().heapUsed;
bench("30 MB", big, 5);
console.log(
  `30 MB: structure ${JSON.stringify(kept.structure).length} bytes of JSON, heap +${
    ((after - before) / 1024 / 1024).toFixed(1)
  } MiB after one parse`,
);
