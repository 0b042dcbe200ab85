/**
 * @module
 * CPU time of processes, from /proc (Linux), for the benchmarks' "CPU per 1,000 messages" figures.
 */

/** User + system CPU seconds of a process and its waited-for children. */
export function cpuSeconds(pid: number): number {
  // /proc/<pid>/stat fields 14–17: utime, stime, cutime, cstime in clock ticks (100 Hz on Linux).
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return [11, 12, 13, 14].reduce((s, i) => s + Number(fields[i]), 0) / 100;
}

/** CPU seconds of every running `postgres` process together (the server's backends, WAL writer, checkpointer…). */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (!stat.includes("(postgres)")) continue;
      const fields = stat.split(") ")[1]!.split(" ");
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch { /* exited meanwhile */ }
  }
  return total;
}
