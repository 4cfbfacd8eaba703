import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { builtAssetsDir, EXPLORER_CSP, EXPLORER_FILES } from '../../src/explorer/plugin.js';
import { startStack, type Stack } from '../helpers.js';

const built = (file: string) => readFileSync(join(builtAssetsDir(), file));

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('GET / (the explorer)', () => {
  it('serves the page as UTF-8 HTML with a strict CSP, an ETag and no-cache', async () => {
    stack = await startStack();
    const response = await stack.app.inject('/');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers.etag).toBe(`W/"${createHash('sha256').update(built('index.html')).digest('base64url').slice(0, 27)}"`);
    expect(response.rawPayload).toEqual(built('index.html'));
  });

  it('serves every asset with its type, the CSP and an ETag that gets a 304', async () => {
    stack = await startStack();
    for (const { path, file, type } of EXPLORER_FILES) {
      const response = await stack.app.inject(path);
      expect(response.statusCode, path).toBe(200);
      expect(response.headers['content-type'], path).toBe(type);
      expect(response.headers['content-security-policy'], path).toBe(EXPLORER_CSP);
      expect(response.rawPayload, path).toEqual(built(file));
      const again = await stack.app.inject({ url: path, headers: { 'if-none-match': String(response.headers.etag) } });
      expect(again.statusCode, path).toBe(304);
      expect(again.body, path).toBe('');
      expect(again.headers.etag, path).toBe(response.headers.etag);
      const strongForm = String(response.headers.etag).replace(/^W\//, '');
      expect((await stack.app.inject({ url: path, headers: { 'if-none-match': `"other", ${strongForm}` } })).statusCode, path).toBe(304);
      expect((await stack.app.inject({ url: path, headers: { 'if-none-match': '"other"' } })).statusCode, path).toBe(200);
    }
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    stack = await startStack();
    for (const { path } of EXPLORER_FILES) {
      const get = await stack.app.inject(path);
      const head = await stack.app.inject({ method: 'HEAD', url: path });
      expect(head.statusCode, path).toBe(200);
      expect(head.body, path).toBe('');
      for (const name of ['content-type', 'content-security-policy', 'etag', 'cache-control', 'content-length']) {
        expect(head.headers[name], `${path} ${name}`).toBe(get.headers[name]);
      }
    }
  });

  it('is gone with EXPLORER=off: / and its assets are 404 problems', async () => {
    stack = await startStack({ env: { EXPLORER: 'off' } });
    for (const { path } of EXPLORER_FILES) {
      for (const method of ['GET', 'HEAD'] as const) {
        const response = await stack.app.inject({ method, url: path });
        expect(response.statusCode, `${method} ${path}`).toBe(404);
        expect(response.headers['content-type'], `${method} ${path}`).toMatch(/^application\/problem\+json/);
      }
    }
    expect((await stack.app.inject('/catalog')).statusCode).toBe(200);
  });

  it('stays open with caller tokens on (the page asks for the token), while its data routes do not', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'explorer-callers-')), 'callers.json');
    writeFileSync(file, JSON.stringify([{ name: 'people', sha256: createHash('sha256').update('tok').digest('hex'), rate_limit: '10/1m' }]));
    stack = await startStack({ env: { CALLER_TOKENS_FILE: file } });
    expect((await stack.app.inject('/')).statusCode).toBe(200);
    expect((await stack.app.inject('/explorer/explorer.js')).statusCode).toBe(200);
    expect((await stack.app.inject('/catalog')).statusCode).toBe(401);
  });

  it('has no inline script, inline style, event handler or other origin in its HTML', () => {
    const html = built('index.html').toString('utf8');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/explorer\//);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    for (const [, url] of html.matchAll(/\b(?:src|href|action)="([^"]*)"/g)) expect(url).toMatch(/^\/(?!\/)/);
  });

  it('refuses to start without the built page, naming the command and EXPLORER=off', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'explorer-empty-'));
    const { explorerRoutes } = await import('../../src/explorer/plugin.js');
    const app = await buildApp({ config: loadConfig({ EXPLORER: 'off' }) });
    await expect(app.register(explorerRoutes, { assetsDir: empty }).ready()).rejects.toThrow(
      `the explorer page is not built (index.html, explorer.js, explorer.css, favicon.svg missing in ${empty}): run npm run build, or set EXPLORER=off`,
    );
    await app.close();
  });
});

describe('EXPLORER', () => {
  it('is on by default, off with off, and anything else stops the start naming it', () => {
    expect(loadConfig({}).explorer).toBe(true);
    expect(loadConfig({ EXPLORER: 'on' }).explorer).toBe(true);
    expect(loadConfig({ EXPLORER: 'off' }).explorer).toBe(false);
    expect(() => loadConfig({ EXPLORER: 'no' })).toThrow(ConfigError);
    expect(() => loadConfig({ EXPLORER: 'no' })).toThrow('EXPLORER must be one of on, off, got "no"');
  });
});
