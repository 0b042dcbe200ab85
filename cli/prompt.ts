/**
 * @module
 * Reading a password for the CLI: from standard input (`--password-stdin`) or from the terminal without echo.
 */
import { concatBytes as concat } from "../mail/bytes.ts";
import { UsageError } from "./args.ts";

/** Reads all of standard input and strips one trailing newline. */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
  const text = new TextDecoder().decode(concat(chunks));
  return text.replace(/\r?\n$/, "");
}

async function promptHidden(question: string): Promise<string> {
  const enc = new TextEncoder();
  await Deno.stderr.write(enc.encode(question));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(64);
  try {
    read: for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 3) throw new UsageError("Cancelled"); // Ctrl-C
        if (b === 13 || b === 10) break read;
        if (b === 127 || b === 8) bytes.pop();
        else bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(enc.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Asks for a new password twice on the terminal (no echo). Throws UsageError when there is no terminal. */
export async function promptNewPassword(): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError("No terminal to ask for the password: pipe it in with --password-stdin");
  }
  const first = await promptHidden("New password: ");
  const second = await promptHidden("Repeat password: ");
  if (first !== second) throw new UsageError("The passwords do not match");
  return first;
}
