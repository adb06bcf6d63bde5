// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Brook",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BrookModel", targets: ["BrookModel"]),
        .library(name: "BrookStore", targets: ["BrookStore"]),
        .library(name: "BrookBroker", targets: ["BrookBroker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The system libsqlite3 (Debian: libsqlite3-dev). No vendored SQLite.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // Shared vocabulary: records, topic configs, error codes, the murmur2 partitioner.
        .target(name: "BrookModel"),
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
            ]
        ),
        // Build-time: turns migrations/*.sql into Swift source compiled into BrookStore.
        .executableTarget(name: "EmbedMigrationsTool"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedMigrationsTool"]
        ),
        .target(name: "BrookTestSupport", dependencies: ["BrookModel"], path: "Tests/BrookTestSupport"),
        .testTarget(name: "BrookModelTests", dependencies: ["BrookModel"]),
        .testTarget(name: "BrookStoreTests", dependencies: ["BrookStore", "BrookModel", "CSQLite", "BrookTestSupport"]),
        .testTarget(
            name: "BrookBrokerTests",
            dependencies: ["BrookBroker", "BrookStore", "BrookModel", "CSQLite", "BrookTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
