// CPU time from Linux /proc: of one process, of a process and everything it started, of
// the whole machine. Every function answers undefined where /proc cannot be read.
import { readdirSync, readFileSync } from 'node:fs';

/** /proc/<pid>/stat is in ticks of 1/100 s (USER_HZ, 100 on every Linux we run on). */
const TICK_S = 0.01;

interface ProcStat {
  ppid: number;
  /** utime + stime of the process itself (s). */
  own: number;
  /** cutime + cstime: its children that have exited and been waited for (s). */
  reaped: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state, ppid, …; utime, stime, cutime, cstime are fields 14–17 of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      own: (Number(fields[11]) + Number(fields[12])) * TICK_S,
      reaped: (Number(fields[13]) + Number(fields[14])) * TICK_S,
    };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) one process has used so far. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : readStat(pid)?.own;
}

/**
 * CPU seconds used by `pid` and every process it started, living or exited: nginx's master
 * and worker, varnishd's manager and cache process, a node child's threads. An exited child
 * counts once its parent has waited for it (it is then in the parent's cutime), which every
 * process here does.
 */
export function treeCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const root = readStat(pid);
  if (!root) return undefined;
  const children = new Map<number, number[]>();
  const stats = new Map<number, ProcStat>([[pid, root]]);
  for (const entry of listPids()) {
    if (entry === pid) continue;
    const stat = readStat(entry);
    if (!stat) continue;
    stats.set(entry, stat);
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(entry);
    else children.set(stat.ppid, [entry]);
  }
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const next = stack.pop()!;
    const stat = stats.get(next);
    if (stat) total += stat.own + stat.reaped;
    stack.push(...(children.get(next) ?? []));
  }
  return total;
}

/** The sum over several trees, or undefined when one cannot be read. */
export function treesCpuSeconds(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const seconds = treeCpuSeconds(pid);
    if (seconds === undefined) return undefined;
    sum += seconds;
  }
  return sum;
}

function listPids(): number[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds all processes have spent in user and kernel mode (not interrupts), machine-wide. */
export function machineCpuSeconds(): number | undefined {
  try {
    const [user, nice, system] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 4).map(Number);
    return (user! + nice! + system!) * TICK_S;
  } catch {
    return undefined;
  }
}

/** This process and its exited children (wrk, once a slice is over): the load generator's CPU. */
export function selfAndReapedCpuSeconds(): number | undefined {
  const stat = readStat(process.pid);
  return stat ? stat.own + stat.reaped : undefined;
}

/**
 * Starts measuring the CPU of processes that are not this one or its descendants (another
 * engineer's test run, …). The result is cores' worth over the wall time, or null.
 */
export function othersMeter(): () => number | null {
  const machine0 = machineCpuSeconds();
  const ours0 = treeCpuSeconds(process.pid);
  const wall0 = process.hrtime.bigint();
  return () => {
    const machine1 = machineCpuSeconds();
    const ours1 = treeCpuSeconds(process.pid);
    if (machine0 === undefined || machine1 === undefined || ours0 === undefined || ours1 === undefined) return null;
    const wallS = Number(process.hrtime.bigint() - wall0) / 1e9;
    return Math.max(0, machine1 - machine0 - (ours1 - ours0)) / wallS;
  };
}
