// Lints a Dockerfile with dockerfile-utils and fails on any finding, warnings included
// (its own CLI exits non-zero on errors only).
import { readFileSync } from 'node:fs';
import { validate } from 'dockerfile-utils';

const file = process.argv[2] ?? 'Dockerfile';
const text = readFileSync(file, 'utf8');
const lines = text.split('\n');
const findings = validate(text);
for (const finding of findings) {
  const line = finding.range.start.line;
  console.log(`${file}:${line + 1}: ${finding.severity === 1 ? 'error' : 'warning'}: ${finding.message}\n    ${lines[line]?.trim() ?? ''}`);
}
console.log(`${file}: ${findings.length} finding(s)`);
process.exit(findings.length === 0 ? 0 : 1);
