# Build: docker build -t brook .
# Run:   docker run -v brook-data:/data -p 127.0.0.1:7411:7411 brook
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY migrations ./migrations
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib \
    && mkdir -p /out \
    && (cp "$(swift build -c release --show-bin-path)/brook" /out/ 2>/dev/null || true)

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data brook \
    && mkdir -p /data && chown brook /data
COPY --from=build /out/ /usr/local/bin/
USER brook
WORKDIR /data
VOLUME ["/data"]
