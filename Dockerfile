# Build: docker build -t brook .
# Run:   docker run -v brook-data:/data -p 127.0.0.1:7665:7665 brook
# The toolchain Brook is built and tested with (its dependencies need at least Swift 6.2).
FROM swift:6.3.1-bookworm AS build
# SQLite, and the compression libraries of Kafka's record batches (README: "Set up").
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev pkg-config zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies are resolved in a layer of their own, so a change to the sources does not fetch
# them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY migrations ./migrations
COPY Tests ./Tests
RUN swift build -c release --product brook --static-swift-stdlib \
    && install -m 0755 "$(swift build -c release --show-bin-path)/brook" /usr/local/bin/brook \
    && strip /usr/local/bin/brook

FROM debian:bookworm-slim
# The shared libraries the binary links besides the C library (Swift's own are linked in).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 zlib1g libsnappy1v5 liblz4-1 libzstd1 libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /data brook
COPY --from=build /usr/local/bin/brook /usr/local/bin/brook
USER brook
WORKDIR /data
VOLUME ["/data"]
EXPOSE 7665
# Healthy once the server answers a request on its port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["brook", "topics", "list", "--server", "127.0.0.1:7665"]
ENTRYPOINT ["brook"]
# Inside a container, listening on every interface is what publishing a port needs, and Brook
# refuses that without authentication unless told --insecure. For users and passwords, create
# them in /data/brook.db (brook users add) and run with --auth instead; see docs/security.md.
CMD ["serve", "--db", "/data/brook.db", "--host", "0.0.0.0", "--insecure"]
