import Foundation
import ProvisionerCore
import ProvisionerTesting
import Testing

/// The value of `key` in the one-line config `key: text`.
private func scalar(_ text: String, file: String = "test.yaml") throws -> ConfigValue {
    try mapping("key: \(text)\n", file: file).required("key")
}

@Suite("ConfigValue: durations, booleans, choices, paths, lists")
struct ConfigScalarTests {
    // MARK: duration()

    @Test(arguments: [("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("90", 90),
                      ("1.5s", 1.5), ("0s", 0)])
    func durations(_ text: String, _ seconds: Double) throws {
        #expect(try scalar(text).duration() == seconds)
    }

    @Test(arguments: ["abc", "-1s", "5 m", "10x", "ms", "\"\""])
    func notDurations(_ text: String) throws {
        let value = try scalar(text)
        let error = configError { () throws(ConfigError) in try value.duration() }
        #expect(error?.line == 1)
        #expect(error?.message.hasPrefix("key: ") == true)
        if text != "\"\"" {
            #expect(error?.message == "key: '\(text)' is not a duration (use e.g. 500ms, 30s, 5m, 2h)")
        }
    }

    // MARK: bool()

    @Test(arguments: [("true", true), ("True", true), ("yes", true), ("on", true), ("ON", true),
                      ("false", false), ("FALSE", false), ("no", false), ("off", false), ("Off", false)])
    func booleans(_ text: String, _ expected: Bool) throws {
        #expect(try scalar(text).bool() == expected)
    }

    @Test(arguments: ["1", "0", "maybe", "\"true\"", "[true]"])
    func notBooleans(_ text: String) throws {
        let value = try scalar(text)
        let error = configError { () throws(ConfigError) in try value.bool() }
        #expect(error?.message.hasPrefix("key: expected true or false, got ") == true)
    }

    @Test func quotedBooleanIsAString() throws {
        let value = try scalar("\"true\"")
        #expect(configError { () throws(ConfigError) in try value.bool() }?.description
            == "test.yaml:1: key: expected true or false, got \"true\" (quoted, so a string)")
    }

    @Test func notABooleanNamesTheValue() throws {
        let value = try mapping("a: 1\nactive_low: maybe\n").required("active_low")
        #expect(configError { () throws(ConfigError) in try value.bool() }?.description
            == "test.yaml:2: active_low: expected true or false, got 'maybe'")
    }

    // MARK: choice()

    @Test func choiceAcceptsAListedWord() throws {
        #expect(try scalar("bootz").choice(["booti", "bootz", "bootm", "zboot"]) == "bootz")
    }

    @Test(arguments: ["bootx", "BOOTI", "boot i"])
    func choiceRefusesOtherWords(_ text: String) throws {
        let value = try scalar(text)
        #expect(configError { () throws(ConfigError) in try value.choice(["booti", "bootz", "bootm", "zboot"]) }?.description
            == "test.yaml:1: key: '\(text)' is not one of: booti, bootz, bootm, zboot")
    }

    // MARK: filePath()

    @Test(arguments: [("keys/host", "/etc/provisioner/keys/host"), ("../shared/x", "/etc/shared/x"),
                      ("./a/./b", "/etc/provisioner/a/b"), ("/var/lib/p", "/var/lib/p"), ("host_key", "/etc/provisioner/host_key")])
    func filePathIsTakenFromTheConfigFolder(_ text: String, _ expected: String) throws {
        #expect(try scalar(text, file: "/etc/provisioner/agent.yaml").filePath() == expected)
    }

    @Test func filePathOfARelativeConfigFile() throws {
        let cwd = FileManager.default.currentDirectoryPath
        #expect(try scalar("keys/host", file: "conf/agent.yaml").filePath() == cwd + "/conf/keys/host")
        #expect(try scalar("keys/host", file: "agent.yaml").filePath() == cwd + "/keys/host")
    }

    /// A link is named, never followed: the agent reopens exactly that path
    /// (a virtual board's serial link, left pointing at a pty, stays the link).
    @Test func filePathKeepsASymbolicLink() throws {
        let folder = try TemporaryDirectory(prefix: "file-path")
        try folder.createDirectory("data")
        #expect(symlink("/dev/null", folder.path("data/b1.console")) == 0)
        #expect(try scalar("data/b1.console", file: folder.path("agent.yaml")).filePath() == folder.path("data/b1.console"))
    }

    @Test func emptyFilePathIsRefused() throws {
        let value = try scalar("\"\"", file: "/etc/provisioner/agent.yaml")
        #expect(configError { () throws(ConfigError) in try value.filePath() }?.description
            == "/etc/provisioner/agent.yaml:1: key: must not be empty")
    }

    // MARK: strings()

    @Test func stringsFromAListOrOneString() throws {
        #expect(try scalar("[\"pci enum\", \"virtio scan\"]").strings() == ["pci enum", "virtio scan"])
        #expect(try scalar("\"usb start\"").strings() == ["usb start"])
        #expect(try scalar("[]").strings() == [])
    }

    @Test func stringsRefusesAMappingItem() throws {
        let value = try mapping("name: b\npreboot:\n  - pci enum\n  - { run: x }\n").required("preboot")
        #expect(configError { () throws(ConfigError) in try value.strings() }?.description
            == "test.yaml:4: preboot[1]: expected a string, got a mapping")
    }
}

@Suite("parseDuration")
struct ParseDurationTests {
    @Test(arguments: [("500ms", 0.5), ("1ms", 0.001), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0),
                      ("45", 45.0), ("0.25", 0.25), ("0", 0.0)])
    func valid(_ text: String, _ seconds: Double) {
        #expect(parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "abc", "-1s", "-5", "+5s", "s", "m", "5 s", "5S", "5sec", "1h30m", "nan", "inf", "infs", "1e400s", "1e308d"])
    func invalid(_ text: String) {
        #expect(parseDuration(text) == nil, "'\(text)'")
    }
}
