# The image the Helm chart runs: the release binary of `make crossbuild` on a
# static base (no shell, no package manager). Build per architecture:
#   make crossbuild && docker build --build-arg ARCH=amd64 -t ghcr.io/podflow/podflow_exporter:v$(cat VERSION) .
ARG ARCH=amd64
FROM gcr.io/distroless/static-debian12
ARG ARCH=amd64
LABEL org.opencontainers.image.source="https://github.com/podflow/podflow_exporter" \
      org.opencontainers.image.description="Per-pod network flow metrics from eBPF for Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY .build/linux-${ARCH}/podflow_exporter /bin/podflow_exporter
EXPOSE 9810
ENTRYPOINT ["/bin/podflow_exporter"]
