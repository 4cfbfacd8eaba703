import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

/** Scripts, styles, images and calls from the gateway itself only; nothing inline, no frame, no form post. */
export const EXPLORER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The files `npm run build:explorer` writes, and where the gateway serves them. */
export const EXPLORER_FILES = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/explorer/explorer.js', file: 'explorer.js', type: 'text/javascript; charset=utf-8' },
  { path: '/explorer/explorer.css', file: 'explorer.css', type: 'text/css; charset=utf-8' },
  { path: '/explorer/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
] as const;

export interface ExplorerOptions {
  /** The built page. Default: `dist/explorer/public` of this package, whether this module runs from src/ or dist/. */
  assetsDir?: string;
}

interface Asset {
  body: Buffer;
  type: string;
  /** Weak: the compression plugin may change the bytes on the wire, never the content. */
  etag: string;
}

/**
 * The explorer page at `/` and its assets, read once at start. The page talks to the gateway
 * only through its public routes (`/catalog`, `/netflows`), so this plugin knows nothing else.
 */
export const explorerRoutes: FastifyPluginAsync<ExplorerOptions> = async (app, options) => {
  const dir = options.assetsDir ?? builtAssetsDir();
  const missing = EXPLORER_FILES.filter((f) => !existsSync(join(dir, f.file))).map((f) => f.file);
  if (missing.length > 0) {
    throw new Error(`the explorer page is not built (${missing.join(', ')} missing in ${dir}): run npm run build, or set EXPLORER=off`);
  }
  for (const { path, file, type } of EXPLORER_FILES) {
    const body = readFileSync(join(dir, file));
    const asset: Asset = { body, type, etag: `W/"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    app.get(path, { schema: { hide: true } }, async (request, reply) => send(request, reply, asset));
  }
};

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset) {
  reply.headers({
    'content-security-policy': EXPLORER_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Revalidated on every load, so a new release shows at once; an unchanged file costs a 304.
    'cache-control': 'no-cache',
    etag: asset.etag,
  });
  if (matches(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
  return reply.type(asset.type).send(asset.body);
}

/** Weak comparison (RFC 9110 §13.1.2), as If-None-Match asks for. */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === opaque(etag));
}

/** `dist/explorer/public` under the folder that holds this package's package.json. */
export function builtAssetsDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json in ${from} or above it`);
    dir = parent;
  }
  return join(dir, 'dist', 'explorer', 'public');
}
