# syntax=docker/dockerfile:1
# ceph-mcs-agent image (init container and webhook): the bundled agent (one file) on a Node 24 runtime,
# plus the POSIX-sh daemon wrapper that init mode copies into the pod's shared volume. No shell, no
# package manager, no node_modules at run time; runs as uid 65532 on a read-only root file system (it
# writes only to the pod's emptyDir and /dev/termination-log). scripts/image-root.sh assembles the same
# runtime files into a folder and test/integration/image-root.test.ts runs them (no Docker engine in CI).
# The Ceph image for the controller (which needs the ceph CLI) is images/ceph/Dockerfile.

FROM docker.io/library/node:24.11-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs no install hooks (esbuild's binary comes as an optional package);
# the `node` devDependency's download of a second Node would be wasted here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY agent ./agent
COPY scripts/bundle.ts ./scripts/bundle.ts
RUN node scripts/bundle.ts

FROM gcr.io/distroless/nodejs24-debian12:nonroot
LABEL org.opencontainers.image.title="ceph-mcs-agent" \
      org.opencontainers.image.description="Clusterset-global addresses for Rook-Ceph mons and OSDs (init container, admission webhook)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/dist/ceph-mcs-agent.mjs /app/ceph-mcs-agent.mjs
COPY --chmod=0755 images/ceph-mcs-exec /usr/local/bin/ceph-mcs-exec
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/ceph-mcs-agent.mjs"]
CMD ["--help"]
