// swift-tools-version:6.0
//
// Provisioner: a board farm for U-Boot based boards.
// DESIGN.md (shared/) names the top-level folders; each C library sits behind
// one system-library module (Libraries/C*) and one small Swift wrapper module.
import PackageDescription

let package = Package(
    name: "Provisioner",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "provisioner-agent", targets: ["provisioner-agent"]),
        .executable(name: "provisioner-coordinator", targets: ["provisioner-coordinator"]),
        .executable(name: "provisioner-flasher", targets: ["provisioner-flasher"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Metrics: swift-metrics' API, written out by swift-prometheus (which
        // needs only swift-atomics besides: no SwiftNIO).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // MARK: C libraries (Debian 12 -dev packages), one module each.
        .systemLibrary(name: "CSSH", path: "Libraries/CSSH", pkgConfig: "libssh",
                       providers: [.apt(["libssh-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", path: "Libraries/CMicroHTTPD", pkgConfig: "libmicrohttpd",
                       providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CGPIOD", path: "Libraries/CGPIOD", pkgConfig: "libgpiod",
                       providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(name: "CCurl", path: "Libraries/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Libraries/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CPostgres", path: "Libraries/CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Libraries/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),

        // MARK: Swift wrappers: the only modules that import the C headers.
        .target(name: "SSH", dependencies: ["CSSH", "SystemSupport"], path: "Libraries/SSH"),
        // SFTP: version 3 packets and a server loop over an SSH channel
        // (the agent's artifact space and the coordinator's proxy to it).
        .target(name: "SFTP", dependencies: ["SSH"], path: "Libraries/SFTP"),
        .target(name: "HTTPDaemon", dependencies: ["CMicroHTTPD", "Digest", "SystemSupport"], path: "Libraries/HTTPDaemon"),
        .target(name: "GPIO", dependencies: ["CGPIOD"], path: "Libraries/GPIO"),
        .target(name: "Curl", dependencies: ["CCurl"], path: "Libraries/Curl"),
        .target(name: "Digest", dependencies: ["CCrypto"], path: "Libraries/Digest"),

        // MARK: Shared code. SystemSupport: sockets, errors, threads, without
        // Foundation (the flasher uses it too). ProvisionerCore: config, logging.
        .target(name: "CSystemSupport", path: "Libraries/CSystemSupport"),
        .target(name: "SystemSupport", dependencies: ["CSystemSupport"], path: "Libraries/SystemSupport"),
        // Word splitting and line editing for the agent's and the coordinator's shells.
        .target(name: "ShellSupport", path: "Libraries/ShellSupport"),
        // Commands: every command of both binaries, declared and parsed once
        // (swift-argument-parser), the one access policy, and the one shell
        // (sessions, the interactive loop) both SSH front doors run.
        .target(name: "Commands", dependencies: [
            "LabMetrics", "ProvisionerCore", "SFTP", "SSH", "ShellSupport", "SystemSupport", "Wire",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Libraries/Commands"),
        // Wire: the JSON the agent, the coordinator and scripts exchange, as
        // versioned Codable types (docs/json.md); Foundation only.
        .target(name: "Wire", path: "Libraries/Wire"),
        // Reservations: reservations and the audit log in SQLite (the only
        // module that imports CSQLite), the reservation-end watch, and the
        // reservation commands; the coordinator's and a lone agent's.
        .target(name: "Reservations", dependencies: [
            "CSQLite", "Commands", "ProvisionerCore", "ShellSupport", "SystemSupport", "Wire",
            .product(name: "Logging", package: "swift-log"),
        ],
                path: "Libraries/Reservations"),
        // Postgres: PostgreSQL through libpq (the only module that imports
        // CPostgres), for the coordinator's shared store (issue 17).
        .target(name: "Postgres", dependencies: ["CPostgres"], path: "Libraries/Postgres"),
        // Web: the lab's web page (DESIGN.md "Web") on the HTTPDaemon wrapper.
        .target(name: "Web", dependencies: ["Commands", "Digest", "HTTPDaemon", "Reservations", "SSH", "ShellSupport", "SystemSupport", "Wire"], path: "Libraries/Web"),
        // PostgresStore: the store on PostgreSQL (PostgresEngine), for the
        // coordinator only: the agent never links libpq.
        .target(name: "PostgresStore", dependencies: ["Postgres", "Reservations", "SystemSupport"], path: "Libraries/PostgresStore"),
        .target(name: "ProvisionerCore", dependencies: [
            "ShellSupport", "SystemSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], path: "Libraries/ProvisionerCore"),

        // LabMetrics: /metrics of both daemons (Prometheus' text format).
        .target(name: "LabMetrics", dependencies: [
            "HTTPDaemon",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], path: "Libraries/LabMetrics"),

        // MARK: Agent
        .target(name: "TFTP", dependencies: [
            "SystemSupport",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Agent/TFTP"),
        .target(name: "Artifacts", dependencies: [
            "HTTPDaemon", "Digest", "SFTP", "SystemSupport",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Agent/Artifacts"),
        .target(name: "AgentCore", dependencies: [
            "ProvisionerCore", "SSH",
        ], path: "Agent/AgentCore"),
        .target(name: "Boards", dependencies: [
            "AgentCore", "CSystemSupport", "GPIO", "SystemSupport",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Agent/Boards"),
        .target(name: "Jobs", dependencies: [
            "AgentCore", "HTTPDaemon", "LabMetrics", "SystemSupport", "Wire",
        ], path: "Agent/Jobs"),
        // AgentShell: a lone agent keeps its own reservations and audit log
        // (Reservations, as the coordinator does).
        .target(name: "AgentShell", dependencies: [
            "AgentCore", "Artifacts", "Commands", "Reservations", "Jobs", "ProvisionerCore", "SFTP", "SSH", "ShellSupport", "SystemSupport", "Web",
            "Wire",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Agent/AgentShell"),
        .executableTarget(name: "provisioner-agent", dependencies: [
            "AgentCore", "AgentShell", "Boards", "TFTP", "Artifacts", "Jobs", "LabMetrics", "ProvisionerCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Agent/provisioner-agent"),

        // MARK: Coordinator. CoordinatorCore: config, agents (health
        // checks, routing) and the SSH front door.
        // CoordinatorCalendar: the Google Calendar sync (libcurl, RS256 via libcrypto).
        .target(name: "CoordinatorCalendar", dependencies: [
            "Reservations", "Curl", "Digest", "LabMetrics", "SystemSupport",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Coordinator/Calendar"),
        .target(name: "CoordinatorCore", dependencies: [
            "Commands", "LabMetrics", "Reservations", "PostgresStore", "CoordinatorCalendar", "ProvisionerCore", "SFTP", "SSH", "ShellSupport", "SystemSupport", "Web",
            "Wire",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Coordinator/CoordinatorCore"),
        .executableTarget(name: "provisioner-coordinator", dependencies: [
            "CoordinatorCore", "Reservations", "ProvisionerCore", "SSH", "SystemSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Coordinator/provisioner-coordinator"),

        // MARK: Flasher: no Foundation (it runs as /init in a small initramfs).
        // zlib, liblzma, libzstd and libcrypto (SHA-256 only) are linked from
        // their static archives (-l:libX.a), so the flasher needs no shared
        // library of theirs in the initramfs.
        .target(name: "CZlib", path: "Libraries/CZlib", linkerSettings: [.linkedLibrary(":libz.a")]),
        .target(name: "CLZMA", path: "Libraries/CLZMA", linkerSettings: [.linkedLibrary(":liblzma.a")]),
        .target(name: "CZstd", path: "Libraries/CZstd", linkerSettings: [.linkedLibrary(":libzstd.a")]),
        .target(name: "CSHA256", path: "Libraries/CSHA256", linkerSettings: [.linkedLibrary(":libcrypto.a")]),
        .target(name: "CFlasherSystem", path: "Flasher/CFlasherSystem"),
        .target(name: "FlasherCore", dependencies: [
            "SystemSupport", "CFlasherSystem", "CZlib", "CLZMA", "CZstd", "CSHA256",
        ], path: "Flasher/FlasherCore"),
        // Release builds are fully static executables (libc too): /init needs
        // no loader or shared library in the initramfs.
        .executableTarget(name: "provisioner-flasher", dependencies: ["FlasherCore", "SystemSupport"],
                          path: "Flasher/provisioner-flasher",
                          linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),

        // MARK: Tests
        .target(name: "ProvisionerTesting", dependencies: ["Commands", "ProvisionerCore", "AgentCore", "Curl"], path: "Tests/ProvisionerTesting",
                exclude: ["FakeGoogle/fake_google.py"]),
        .testTarget(name: "ProvisionerCoreTests", dependencies: ["ProvisionerCore", "ProvisionerTesting", "SystemSupport"]),
        // MARK: Fuzz targets (scripts/fuzz builds them with libFuzzer and -D FUZZING;
        // an ordinary build makes each a replayer of the inputs it is given).
        .target(name: "FuzzSupport", path: "Tests/Fuzz/FuzzSupport"),
        .executableTarget(name: "fuzz-tftp", dependencies: ["FuzzSupport", "TFTP"], path: "Tests/Fuzz/fuzz-tftp"),
        .executableTarget(name: "fuzz-commands", dependencies: ["FuzzSupport", "Commands", "ShellSupport"], path: "Tests/Fuzz/fuzz-commands"),
        .executableTarget(name: "fuzz-config", dependencies: ["FuzzSupport", "AgentCore", "CoordinatorCore"], path: "Tests/Fuzz/fuzz-config"),
        .executableTarget(name: "fuzz-flasher-json", dependencies: ["FuzzSupport", "FlasherCore"], path: "Tests/Fuzz/fuzz-flasher-json"),
        .executableTarget(name: "fuzz-http-response", dependencies: ["FuzzSupport", "FlasherCore"], path: "Tests/Fuzz/fuzz-http-response"),
        .executableTarget(name: "fuzz-bmap", dependencies: ["FuzzSupport", "FlasherCore"], path: "Tests/Fuzz/fuzz-bmap"),
        .executableTarget(name: "fuzz-cmdline", dependencies: ["FuzzSupport", "FlasherCore"], path: "Tests/Fuzz/fuzz-cmdline"),
        .executableTarget(name: "fuzz-decompress", dependencies: ["FuzzSupport", "FlasherCore"], path: "Tests/Fuzz/fuzz-decompress"),
        .executableTarget(name: "fuzz-range", dependencies: ["FuzzSupport", "Artifacts"], path: "Tests/Fuzz/fuzz-range"),
        .executableTarget(name: "fuzz-wire", dependencies: ["FuzzSupport", "Wire"], path: "Tests/Fuzz/fuzz-wire"),
        .executableTarget(name: "fuzz-websocket", dependencies: ["FuzzSupport", "HTTPDaemon"], path: "Tests/Fuzz/fuzz-websocket"),
        .executableTarget(name: "fuzz-sftp", dependencies: ["FuzzSupport", "SFTP"], path: "Tests/Fuzz/fuzz-sftp"),

        .testTarget(name: "CommandsTests", dependencies: ["Commands", "ProvisionerCore", "ProvisionerTesting", "ShellSupport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "SFTPTests", dependencies: ["SFTP"]),
        .testTarget(name: "TFTPTests", dependencies: ["TFTP", "ProvisionerTesting"]),
        .testTarget(name: "AgentCoreTests", dependencies: ["AgentCore", "ProvisionerTesting"]),
        .testTarget(name: "CLibraryTests", dependencies: ["SSH", "HTTPDaemon", "GPIO", "Curl", "Postgres", "ProvisionerTesting"]),
        .testTarget(name: "BoardsTests", dependencies: ["Boards", "ProvisionerTesting"]),
        .testTarget(name: "IntegrationTests", dependencies: ["ProvisionerTesting"], exclude: ["Tools/cutting_proxy.py"]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "HTTPDaemon", "LabMetrics", "ProvisionerTesting", "Wire"]),
        .testTarget(name: "AgentShellTests", dependencies: ["AgentShell", "AgentCore", "Artifacts", "Digest", "ProvisionerTesting", "Reservations", "SSH", "ShellSupport", "SystemSupport", "Wire"]),
        .testTarget(name: "FlasherTests", dependencies: ["FlasherCore", "Wire"]),
        .testTarget(name: "CalendarTests", dependencies: [
            "CoordinatorCalendar", "CoordinatorCore", "Reservations", "Curl", "ProvisionerCore", "ProvisionerTesting",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "CoordinatorTests", dependencies: [
            "Commands", "CoordinatorCore", "Reservations", "PostgresStore", "ProvisionerCore", "ProvisionerTesting", "ShellSupport", "SSH",
            "SystemSupport", "Web", "Wire",
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Browser"]),
        .testTarget(name: "ArtifactsTests", dependencies: [
            "Artifacts", "HTTPDaemon", "Digest", "ProvisionerTesting", "SFTP",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
