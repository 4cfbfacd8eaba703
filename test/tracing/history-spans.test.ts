import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteDatabase } from '../../src/history/pglite.js';
import type { SqlDatabase } from '../../src/history/sql.js';
import { tracedDatabase } from '../../src/tracing/spans.js';
import { freshPgliteDir } from '../pglite.js';

describe('history spans on the embedded database (PGlite has no instrumentation of its own)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  let database: SqlDatabase;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    database = tracedDatabase(await PgliteDatabase.open(await freshPgliteDir()), provider.getTracer('test'));
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    context.disable();
  });

  /** As a request would: the statements run inside a span of its own. */
  function inRequest(work: () => Promise<void>): Promise<void> {
    return provider.getTracer('test').startActiveSpan('request', (span) => work().finally(() => span.end()));
  }

  it('gives a statement a span with its operation, never its values, and nests a transaction\'s statements in its span', async () => {
    await inRequest(async () => {
      await database.query('CREATE TABLE secrets (v text)');
      await database.transaction(async (tx) => {
        await tx.query('INSERT INTO secrets VALUES ($1)', ['api_key=cm-never-recorded']);
        await tx.query('SELECT v FROM secrets');
      });
      await expect(database.query('SELECT nothing FROM nowhere')).rejects.toThrow();
    });

    const spans = exporter.getFinishedSpans().filter((s) => s.name !== 'request');
    expect(spans.map((s) => [s.name, s.attributes['db.operation.name'] ?? null, s.status.code])).toEqual([
      ['history query', 'CREATE', 0],
      ['history query', 'INSERT', 0],
      ['history query', 'SELECT', 0],
      ['history transaction', null, 0],
      ['history query', 'SELECT', 2],
    ]);
    expect(spans[4]!.status.message).toBe('42P01');
    const transaction = spans[3]!;
    expect([spans[1]!.parentSpanContext?.spanId, spans[2]!.parentSpanContext?.spanId]).toEqual([transaction.spanContext().spanId, transaction.spanContext().spanId]);
    expect(spans.every((s) => s.attributes['db.system.name'] === 'pglite')).toBe(true);
    expect(JSON.stringify(spans.map((s) => [s.name, s.attributes, s.events]))).not.toContain('cm-never-recorded');
  });

  it('makes no trace of its own for a statement outside any trace (a background write), as pg\'s instrumentation does', async () => {
    exporter.reset();
    await database.transaction(async (tx) => {
      await tx.query('SELECT 1');
    });
    await database.query('SELECT 2');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
