# syntax=docker/dockerfile:1

# Build: every dependency, compile TypeScript to dist/.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only; none of them needs an install script.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The embedded history's default HISTORY_DIR (./data), writable by the gateway; mount a
# volume there to keep it, or set DATABASE_URL (or HISTORY=off) instead.
RUN mkdir /app/data && chown 1000:1000 /app/data
# The image's node user, by number so that runAsNonRoot can check it; the code stays
# root-owned and read-only to it. Keys come as files (COINMETRICS_API_KEY_FILE, …).
USER 1000:1000
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js"]
