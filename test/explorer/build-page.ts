import { execFileSync } from 'node:child_process';

/** vitest globalSetup: the app serves the built page (dist/explorer/public), so build it from the sources under test. */
export default function buildPage(): void {
  execFileSync('npm', ['run', '--silent', 'build:explorer'], { stdio: 'inherit' });
}
