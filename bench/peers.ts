// The peers of the hit scenario: nginx with proxy_cache and Varnish, each in front of the
// gateway and keeping its answer, so they serve the same bytes the gateway's hit does.
// Their configurations are bench/peers/nginx.conf and bench/peers/varnish.vcl, filled in
// here into a temporary directory with free ports.
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { BenchError, ROOT, spawnTracked, startProgram, stopChild, type Child } from './lib/children.js';
import { get } from './lib/http.js';
import { onPath } from './lib/load.js';

const TEMPLATES = path.join(ROOT, 'bench', 'peers');

export type PeerKey = 'n' | 'v';

export interface Peer {
  key: PeerKey;
  label: string;
  child: Child;
  /** Its access log: one line per request. */
  accessLog: string;
  /** Every process of the peer (varnishd and varnishncsa), for stopping. */
  parts: Child[];
}

/** Which peers can run here, and what to install for the others. */
export interface PeerAvailability {
  nginx: string | undefined;
  varnishd: string | undefined;
  varnishncsa: string | undefined;
  missing: string[];
}

export function detectPeers(): PeerAvailability {
  const nginx = onPath('nginx', ['/usr/sbin/nginx']);
  const varnishd = onPath('varnishd', ['/usr/sbin/varnishd']);
  const varnishncsa = onPath('varnishncsa', ['/usr/bin/varnishncsa']);
  const missing: string[] = [];
  if (!nginx) missing.push('nginx is not installed, so the nginx proxy_cache peer is left out (apt-get install nginx-light)');
  if (!varnishd || !varnishncsa) missing.push('Varnish is not installed, so the Varnish peer is left out (apt-get install varnish)');
  return { nginx, varnishd, varnishncsa, missing };
}

/** `{{NAME}}` → values[NAME]; a placeholder without a value is an error, never left in a config. */
export function fillTemplate(text: string, values: Record<string, string | number>): string {
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (_match, name: string) => {
    if (!(name in values)) throw new BenchError(`no value for {{${name}}} in a peer template`);
    return String(values[name]);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startNginx(binary: string, dir: string, gatewayPort: number, cpu: number | undefined): Promise<Peer> {
  const port = await freePort();
  mkdirSync(path.join(dir, 'nginx-tmp'), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  const values = { DIR: dir, PORT: port, GATEWAY_PORT: gatewayPort, USER: userInfo().username };
  writeFileSync(conf, fillTemplate(readFileSync(path.join(TEMPLATES, 'nginx.conf'), 'utf8'), values));
  // -e: errors before the configuration is read go to the directory too, not to /var/log/nginx.
  const child = await startProgram('nginx', binary, ['-c', conf, '-p', `${dir}/`, '-e', path.join(dir, 'nginx-error.log')], port, cpu);
  return { key: 'n', label: '(n) nginx proxy_cache hit', child, accessLog: path.join(dir, 'nginx-access.log'), parts: [child] };
}

export async function startVarnish(varnishd: string, varnishncsa: string, dir: string, gatewayPort: number, cpu: number | undefined): Promise<Peer> {
  const port = await freePort();
  const vcl = path.join(dir, 'netflows.vcl');
  const workdir = path.join(dir, 'varnish');
  writeFileSync(vcl, fillTemplate(readFileSync(path.join(TEMPLATES, 'varnish.vcl'), 'utf8'), { GATEWAY_PORT: gatewayPort }));
  // -j none: no privilege separation (the bench may run as root or not); -T none: no admin port.
  const args = ['-F', '-j', 'none', '-n', workdir, '-a', `127.0.0.1:${port}`, '-f', vcl, '-s', 'malloc,64m', '-T', 'none'];
  const child = await startProgram('varnishd', varnishd, args, port, cpu);
  const accessLog = path.join(dir, 'varnish-access.log');
  // varnishncsa writes Varnish's access log: one line per request, read from its shared-memory log.
  const ncsa = await startLogger('varnishncsa', varnishncsa, ['-n', workdir, '-w', accessLog], accessLog, cpu);
  return { key: 'v', label: '(v) Varnish hit', child: { ...child, pids: [...child.pids, ...ncsa.pids] }, accessLog, parts: [child, ncsa] };
}

/** A program that listens nowhere: ready when it has created its output file. */
async function startLogger(name: string, binary: string, args: string[], output: string, cpu: number | undefined): Promise<Child> {
  const proc = spawnTracked(name, binary, args, { cpu, stdout: 'ignore', lifeline: true });
  const deadline = Date.now() + 10_000;
  while (!existsSync(output)) {
    if (Date.now() > deadline) throw new BenchError(`${name} did not create ${output} within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, proc, port: 0, controlPort: undefined, upstreams: undefined, origin: '', pids: [proc.pid!] };
}

/**
 * Asks the peer for `pathAndQuery` until it answers from its own cache with the gateway's
 * bytes: from then on every request of the slice is a peer hit (run.ts checks that the
 * gateway answers none of them).
 */
export async function warmPeer(peer: Peer, pathAndQuery: string, headers: Record<string, string>, body: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await get(`${peer.child.origin}${pathAndQuery}`, { headers });
    if (res.status !== 200) throw new BenchError(`${peer.label}: answered ${res.status}: ${res.text.slice(0, 300)}`);
    if (res.text !== body) throw new BenchError(`${peer.label}: does not serve the gateway's bytes`);
    if (res.headers['x-peer-cache'] === 'HIT') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new BenchError(`${peer.label}: still not a hit after 20 requests`);
}

export async function stopPeer(peer: Peer): Promise<void> {
  await Promise.all(peer.parts.map((part) => stopChild(part)));
}

/** Lines in a file (0 when it does not exist): access lines written. */
export async function countLines(file: string): Promise<number> {
  let lines = 0;
  try {
    for await (const chunk of createReadStream(file)) {
      for (let at = (chunk as Buffer).indexOf(10); at !== -1; at = (chunk as Buffer).indexOf(10, at + 1)) lines++;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  return lines;
}
