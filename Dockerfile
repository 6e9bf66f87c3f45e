# mailrelay gateway (docs/gateway.md): the `mailrelay` CLI built to JavaScript, with its runtime
# dependencies only. The CDK stack runs it with `gateway` and settings from the environment.
#
#   docker buildx build --platform linux/arm64 -t <account>.dkr.ecr.<region>.amazonaws.com/mailrelay:<tag> --push .
#
# The stack's tasks are linux/arm64 (Graviton). Nothing here holds a secret: the gateway reads
# its TLS key and the submitters' passwords from keysources at start.

FROM --platform=$BUILDPLATFORM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production \
    MAILRELAY_CLI=build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/cli ./dist/cli
COPY bin ./bin
# Unprivileged ports inside the container; the load balancer listens on 587 and 465.
ENV MAILRELAY_GATEWAY_HOST=0.0.0.0 \
    MAILRELAY_GATEWAY_PORT=2587 \
    MAILRELAY_GATEWAY_HEALTH_PORT=8025
EXPOSE 2587 2465 8025
USER node
ENTRYPOINT ["node", "bin/mailrelay.js"]
CMD ["gateway"]
