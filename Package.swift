// swift-tools-version:6.1
import Foundation
import PackageDescription

let package = Package(
    name: "Brook",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BrookModel", targets: ["BrookModel"]),
        .library(name: "BrookStore", targets: ["BrookStore"]),
        .library(name: "BrookBroker", targets: ["BrookBroker"]),
        .library(name: "BrookWire", targets: ["BrookWire"]),
        .library(name: "BrookClient", targets: ["BrookClient"]),
        .library(name: "BrookFrontEnd", targets: ["BrookFrontEnd"]),
        .library(name: "BrookLineServer", targets: ["BrookLineServer"]),
        .library(name: "BrookKafka", targets: ["BrookKafka"]),
        .library(name: "BrookAuth", targets: ["BrookAuth"]),
        .library(name: "BrookHTTP", targets: ["BrookHTTP"]),
        .executable(name: "brook", targets: ["brook"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The system libsqlite3 (Debian: libsqlite3-dev). No vendored SQLite.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // The compression codecs of Kafka's record batches, from the system libraries (Debian:
        // zlib1g-dev, libsnappy-dev, liblz4-dev, libzstd-dev).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"]), .brew(["snappy"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // Shared vocabulary: records, topic configs, error codes, the murmur2 partitioner.
        .target(name: "BrookModel"),
        // Who may connect: SCRAM credentials (verifiers only, never passwords) and the server's
        // side of the SCRAM and PLAIN exchanges, shared by every front-end. Knows no I/O.
        .target(
            name: "BrookAuth",
            dependencies: [
                "BrookModel",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // CRC-32C with the CPU's instruction (SSE 4.2), chosen at run time.
        .target(name: "CCRC32C"),
        // The SQLite log: connections, migrations, partition tables, append, read, prune, backup, SQL.
        .target(
            name: "BrookStore",
            dependencies: ["CSQLite", "BrookModel"],
            plugins: ["EmbedMigrations"]
        ),
        // The semantics: writer with group commit, reader pool, long-poll fetch, retention.
        .target(
            name: "BrookBroker",
            dependencies: [
                "BrookStore", "BrookModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The line protocol's codec: framing, requests and replies <-> bytes. Shared by the server
        // and the client; knows nothing of SQLite.
        .target(
            name: "BrookWire",
            dependencies: ["BrookModel", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // What every front-end's connections share, whatever the protocol: replies in order,
        // in-flight limits, backpressure, idle close, quiesce, half-close, connection limit, and a
        // listener whose connections drain on shutdown.
        .target(
            name: "BrookFrontEnd",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The TCP front-end: SwiftNIO server speaking the line protocol to the broker.
        .target(
            name: "BrookLineServer",
            dependencies: [
                "BrookFrontEnd", "BrookBroker", "BrookAuth", "BrookWire", "BrookModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The Kafka front-end: SwiftNIO listener speaking Kafka's wire protocol to the same broker.
        .target(
            name: "BrookKafka",
            dependencies: [
                "BrookFrontEnd", "BrookBroker", "BrookAuth", "BrookModel", "CCRC32C", "CZlib", "CSnappy", "CLZ4", "CZstd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The HTTP front-end (Hummingbird): /metrics in Prometheus text, /livez and /readyz, and the
        // web console, served beside the other listeners on the same broker.
        .target(
            name: "BrookHTTP",
            dependencies: [
                "BrookBroker", "BrookFrontEnd", "BrookAuth", "BrookModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The Swift client: connection with pipelining, producer, fetch consumer, admin.
        .target(
            name: "BrookClient",
            dependencies: [
                "BrookWire", "BrookModel", "BrookAuth",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ]
        ),
        // What every CLI command shares: the --server option, error reporting, output.
        .target(
            name: "BrookCommandLine",
            dependencies: [
                "BrookClient", "BrookWire", "BrookModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark and soak harness (`brook bench`, `brook soak`): load generators over the
        // client, HdrHistogram percentiles, the raw SQLite ceiling, the fault-injecting soak, and a
        // minimal NATS client so the same load generator drives NATS JetStream as a peer.
        .target(
            name: "BrookBench",
            dependencies: [
                "BrookCommandLine", "BrookClient", "BrookStore", "BrookWire", "BrookModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The CLI: serve, topics, produce, consume, groups, sql, backup, and the harness's commands.
        .executableTarget(
            name: "brook",
            dependencies: [
                "BrookLineServer", "BrookKafka", "BrookHTTP", "BrookAuth", "BrookCommandLine", "BrookBench", "BrookClient", "BrookBroker", "BrookStore", "BrookWire", "BrookModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Build-time: turns migrations/*.sql into Swift source compiled into BrookStore.
        .executableTarget(name: "EmbedMigrationsTool"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedMigrationsTool"]
        ),
        .target(
            name: "BrookTestSupport",
            dependencies: [
                "BrookBroker", "BrookModel", "CSQLite",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/BrookTestSupport"),
        .testTarget(name: "BrookModelTests", dependencies: ["BrookModel", "BrookTestSupport"]),
        .testTarget(name: "BrookAuthTests", dependencies: ["BrookAuth", "BrookModel"]),
        .testTarget(
            name: "BrookBenchTests",
            dependencies: [
                "BrookBench",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]),
        .testTarget(name: "BrookStoreTests", dependencies: ["BrookStore", "BrookModel", "CSQLite", "BrookTestSupport"]),
        .testTarget(
            name: "BrookBrokerTests",
            dependencies: ["BrookBroker", "BrookStore", "BrookModel", "CSQLite", "BrookTestSupport"]),
        .testTarget(
            name: "BrookWireTests",
            dependencies: [
                "BrookWire", "BrookModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]),
        .testTarget(
            name: "BrookFrontEndTests",
            dependencies: [
                "BrookFrontEnd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(
            name: "BrookKafkaTests",
            dependencies: [
                "BrookKafka", "BrookFrontEnd", "BrookAuth", "BrookStore", "BrookBroker", "BrookModel", "BrookTestSupport", "CZlib", "CSnappy",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(
            name: "BrookHTTPTests",
            dependencies: [
                "BrookHTTP", "BrookBroker", "BrookAuth", "BrookFrontEnd", "BrookModel", "BrookTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "BrookEndToEndTests",
            dependencies: [
                "BrookLineServer", "BrookFrontEnd", "BrookClient", "BrookAuth", "BrookStore", "BrookBroker", "BrookWire", "BrookModel", "BrookTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)

// Micro-benchmarks of the hot paths (package-benchmark), only when asked for, so that `swift test`
// stays lean: BROOK_BENCHMARKS=1 swift package benchmark
if ProcessInfo.processInfo.environment["BROOK_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                "BrookWire", "BrookStore", "BrookModel", "BrookFrontEnd",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}

// The libFuzzer target over both protocols' decoders and parsers, only when asked for (it has no main
// of its own: libFuzzer's): bash Fuzz/run.sh SECONDS
if ProcessInfo.processInfo.environment["BROOK_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "BrookFuzz",
            dependencies: ["BrookWire", "BrookKafka", "BrookModel", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/BrookFuzz",
            swiftSettings: [.unsafeFlags(["-parse-as-library", "-sanitize=fuzzer,address"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
        ))
}
