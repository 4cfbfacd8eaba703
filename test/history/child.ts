// A second process for the history tests: `migrate <url>` or `write <url|dir>`.
import { migrate } from '../../src/history/migrations.js';
import { writeSnapshots } from '../../src/history/nansen-store.js';
import type { SqlDatabase } from '../../src/history/sql.js';
import { D0, HOUR, snapshot, token } from './builders.js';

const [mode, where] = process.argv.slice(2) as [string, string];

async function open(): Promise<SqlDatabase> {
  if (where.startsWith('postgres://')) return new (await import('../../src/history/postgres.js')).PostgresDatabase({ url: where });
  return (await import('../../src/history/pglite.js')).PgliteDatabase.open(where);
}

const db = await open();
if (mode === 'migrate') {
  console.log(JSON.stringify(await migrate(db)));
  await db.close();
} else if (mode === 'write') {
  await migrate(db);
  const tokens = Array.from({ length: 500 }, (_, i) => token(`t${i}`, i));
  // Snapshots without end, each in its own transaction, which stays open a moment after its
  // rows are written: the parent kills this process then, between the writing and the commit.
  for (let k = 0; ; k++) {
    await db.transaction(async (tx) => {
      await writeSnapshots(tx, [snapshot(D0 + k * HOUR, tokens)]);
      process.stdout.write(`written ${k}\n`);
      await tx.query('SELECT pg_sleep(0.2)');
    });
    process.stdout.write(`committed ${k}\n`);
  }
}
