#!/usr/bin/env bash
# Renders /docs (Swagger UI) in headless Chromium against the demo gateway and writes a PNG.
# Needs Debian's chromium (apt-get install chromium). Usage: scripts/docs-screenshot.sh [out.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.bench/docs.png}
port=${DOCS_PORT:-18181}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is not installed (apt-get install chromium)"; exit 2; }
mkdir -p "$(dirname "$out")"

npm run --silent build
PORT=$port HOST=127.0.0.1 LOG_LEVEL=warn node dist/demo/main.js >/dev/null &
gateway=$!
trap 'kill $gateway 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

profile=$(mktemp -d)
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,1600 --virtual-time-budget=8000 \
  --screenshot="$out" "http://127.0.0.1:$port/docs/" >/dev/null 2>&1
rm -rf "$profile"
size=$(stat -c %s "$out")
echo "wrote $out ($size bytes)"
[ "$size" -gt 20000 ] || { echo "the screenshot is too small to show the page"; exit 1; }
