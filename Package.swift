// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "tenantplan",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tenantplan", targets: ["tenantplan"]),
        .library(name: "TenantPlanKit", targets: ["TenantPlanKit"]),
        .library(name: "TenantPlanSpec", targets: ["TenantPlanSpec"]),
        .library(name: "TenantPlanCluster", targets: ["TenantPlanCluster"]),
        .library(name: "TenantPlanOutput", targets: ["TenantPlanOutput"]),
        .library(name: "TenantPlanHTTP", targets: ["TenantPlanHTTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CPgQuery",
            providers: [.apt(["libpg-query-dev"])]
        ),
        .target(
            name: "TenantPlanSpec",
            dependencies: [
                "CPgQuery",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TenantPlanPostgres",
            dependencies: ["CLibPQ"]
        ),
        .target(name: "TenantPlanCluster"),
        .target(
            name: "TenantPlanKit",
            dependencies: [
                "TenantPlanSpec",
                "TenantPlanPostgres",
                "TenantPlanCluster",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TenantPlanOutput",
            dependencies: ["TenantPlanKit", "TenantPlanSpec"]
        ),
        .target(
            name: "TenantPlanHTTP",
            dependencies: [
                "TenantPlanKit",
                "TenantPlanSpec",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "tenantplan-example-server",
            dependencies: [
                "TenantPlanKit",
                "TenantPlanHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Examples/TenantServer"
        ),
        .executableTarget(
            name: "tenantplan",
            dependencies: [
                "TenantPlanKit",
                "TenantPlanOutput",
                "TenantPlanSpec",
                "TenantPlanHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TenantPlanSpecTests",
            dependencies: ["TenantPlanSpec"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TenantPlanKitTests",
            dependencies: [
                "TenantPlanKit", "TenantPlanSpec", "TenantPlanPostgres", "TenantPlanCluster",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TenantPlanOutputTests",
            dependencies: ["TenantPlanOutput", "TenantPlanKit", "TenantPlanSpec"],
            exclude: ["Fixtures"]
        ),
    ]
)
