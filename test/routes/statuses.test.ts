import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';


let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const get = (url: string) => stack!.app.inject({ method: 'GET', url });

/** Waits for what a background refresh does on real sockets, for at most five seconds. */
async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await done()); i++) await sleep(50);
}

describe('a source served from an expired entry', () => {
  it('says ok after its refresh failed (defect 3): every later answer says stale until a refresh succeeds', async () => {
    stack = await startStack({ env: { COINMETRICS_TTL_S: '1', COINMETRICS_SETTLED_TTL_S: '1' } });
    const url = '/netflows?source=coinmetrics&asset=btc&window=7d';
    expect((await get(url)).json().sources[0]).toMatchObject({ status: 'ok', cache: 'miss' });
    stack.cm.setFault({ kind: 'status', status: 500 });
    stack.clock.now += 2500;
    const refreshFailed = new Promise((resolve) => stack!.cache.onBackgroundError(resolve));
    const answers = [await get(url)];
    // the background refresh runs on real sockets
    await refreshFailed;
    for (let i = 0; i < 2; i++) {
      stack.clock.now += 400;
      answers.push(await get(url));
    }
    const [during, ...after] = answers;
    expect(during!.json()).toMatchObject({ complete: true, sources: [{ status: 'ok', cache: 'stale' }, { status: 'skipped' }] });
    expect(during!.headers['cache-status']).toBe('netflows-coinmetrics; hit; detail=stale-while-revalidate');
    for (const answer of after) {
      expect(answer.json()).toMatchObject({ complete: false, sources: [{ status: 'stale', cache: 'stale', error: { code: 'upstream_error' } }, { status: 'skipped' }] });
      expect(answer.headers['cache-status']).toBe('netflows-coinmetrics; hit; detail=stale-if-error');
    }
    stack.cm.setFault(null);
    const calls = stack.cm.requests.length;
    await get(url);
    await until(() => stack!.cm.requests.length > calls && stack!.cm.requests.at(-1)!.status === 200);
    await until(async () => (await get(url)).json().complete === true);
    expect((await get(url)).json()).toMatchObject({ complete: true, sources: [{ status: 'ok', cache: 'hit' }, { status: 'skipped' }] });
  });

  it('is not kept as an ok answer once its refresh failed', async () => {
    stack = await startStack({ env: { NANSEN_TTL_S: '1' } });
    const url = '/netflows?source=nansen&limit=5';
    expect((await get(url)).json().complete).toBe(true);
    stack.nansen.setFault({ kind: 'status', status: 500 });
    stack.clock.now += 1500;
    const refreshFailed = new Promise((resolve) => stack!.cache.onBackgroundError(resolve));
    await get(url);
    await refreshFailed;
    for (let i = 0; i < 2; i++) expect((await get(url)).json()).toMatchObject({ complete: false, sources: [{}, { status: 'stale' }] });
  });
});
