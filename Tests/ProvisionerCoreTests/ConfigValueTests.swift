import Foundation
import ProvisionerCore
import Testing
import ProvisionerTesting

@Suite("ConfigValue: parsing, loading and located errors")
struct ConfigValueTests {
    @Test func errorDescriptionIsFileLinePathMessage() {
        let error = ConfigError(file: "/etc/provisioner/agent.yaml", line: 12, "boards[0].serial.baud: 7 is out of range")
        #expect(error.description == "/etc/provisioner/agent.yaml:12: boards[0].serial.baud: 7 is out of range")
    }

    @Test func nestedValuesKnowTheirPathAndLine() throws {
        let text = """
            # a comment
            agent:
              name: bench-1
              ports: [1, 2]
            boards:
              - name: a
              - name: b
                baud: 9600
            """
        let top = try mapping(text)
        let agent = try top.required("agent").mapping()
        let name = try agent.required("name")
        #expect(name.path == "agent.name")
        #expect(name.line == 3)
        #expect(try name.string() == "bench-1")
        let ports = try agent.required("ports").list()
        #expect(ports.map(\.path) == ["agent.ports[0]", "agent.ports[1]"])
        #expect(try ports.map { value throws(ConfigError) in try value.int(in: 0...9) } == [1, 2])
        let boards = try top.required("boards").list()
        let baud = try boards[1].mapping().required("baud")
        #expect(baud.path == "boards[1].baud")
        #expect(baud.line == 8)
        #expect(try baud.int(in: 1...115200) == 9600)
    }

    @Test func stringWhereANumberIsExpected() throws {
        let server = try mapping("server:\n  name: web\n  port: \"80\"\n").required("server").mapping()
        let error = configError { () throws(ConfigError) in try server.required("port").int(in: 1...65535) }
        #expect(error?.description == "test.yaml:3: server.port: expected a whole number, got \"80\" (quoted, so a string)")
        #expect(error?.line == 3)
    }

    @Test func wordWhereANumberIsExpected() throws {
        let top = try mapping("port: eighty\n")
        #expect(configError { () throws(ConfigError) in try top.required("port").int(in: 1...65535) }?.description
            == "test.yaml:1: port: expected a whole number, got 'eighty'")
    }

    @Test func numberOutOfRange() throws {
        let top = try mapping("name: x\nport: 70000\n")
        #expect(configError { () throws(ConfigError) in try top.required("port").int(in: 1...65535) }?.description
            == "test.yaml:2: port: 70000 is out of range (1–65535)")
    }

    @Test func listWhereAMappingIsExpected() throws {
        let top = try mapping("name: x\nserver: [1, 2]\n")
        #expect(configError { () throws(ConfigError) in try top.required("server").mapping() }?.description
            == "test.yaml:2: server: expected a mapping of keys, got a list")
    }

    @Test func mappingWhereAStringIsExpected() throws {
        let top = try mapping("name:\n  first: a\n")
        #expect(configError { () throws(ConfigError) in try top.required("name").string() }?.description
            == "test.yaml:2: name: expected a string, got a mapping")
    }

    @Test func listWhereAStringIsExpected() throws {
        let top = try mapping("name: [a, b]\n")
        #expect(configError { () throws(ConfigError) in try top.required("name").word() }?.description
            == "test.yaml:1: name: expected a string, got a list")
    }

    @Test func emptyListItemIsNothing() throws {
        let items = try mapping("items:\n  -\n  - a: 1\n").required("items").list()
        #expect(items.count == 2)
        #expect(configError { () throws(ConfigError) in try items[0].mapping() }?.message
            == "items[0]: expected a mapping of keys, got nothing")
    }

    @Test func rootThatIsNotAMapping() throws {
        let list = try root("- a\n- b\n")
        #expect(configError { () throws(ConfigError) in try list.mapping() }?.description
            == "test.yaml:1: expected a mapping of keys, got a list")
    }

    @Test func duplicateKey() {
        let error = configError { () throws(ConfigError) in try ConfigValue.parse("name: a\nport: 1\nname: b\n", file: "d.yaml") }
        #expect(error?.file == "d.yaml")
        #expect(error?.message == "duplicate key 'name'")
        #expect(error?.line == 1)  // Yams reports the first of the two
    }

    @Test func duplicateKeyInANestedMapping() {
        let error = configError { () throws(ConfigError) in
            try ConfigValue.parse("agent:\n  name: a\nboards:\n  - name: b\n    baud: 1\n    baud: 2\n", file: "d.yaml")
        }
        #expect(error?.description == "d.yaml:5: duplicate key 'baud'")
    }

    @Test func syntaxErrorIsLocated() {
        let tab = configError { () throws(ConfigError) in try ConfigValue.parse("a: 1\nb:\n\tc: 2\n", file: "s.yaml") }
        #expect(tab?.line == 3)
        #expect(tab?.description.hasPrefix("s.yaml:3: YAML syntax: ") == true)

        let unclosed = configError { () throws(ConfigError) in try ConfigValue.parse("a: 1\nb: [1, 2\nc: 3\nd: 4\n", file: "s.yaml") }
        #expect(unclosed?.description.hasPrefix("s.yaml:") == true)
        #expect(unclosed?.message.hasPrefix("YAML syntax: ") == true)
        #expect((2...5).contains(unclosed?.line ?? 0))

        let badIndent = configError { () throws(ConfigError) in try ConfigValue.parse("a:\n  b: 1\n c: 2\n", file: "s.yaml") }
        #expect(badIndent?.line == 3)
    }

    @Test(arguments: ["", "\n\n", "# only a comment\n"])
    func emptyFile(_ text: String) {
        #expect(configError { () throws(ConfigError) in try ConfigValue.parse(text, file: "e.yaml") }?.description
            == "e.yaml:1: the file is empty")
    }

    // MARK: load(file:)

    @Test func loadReadsAFile() throws {
        try withTemporaryDirectory { folder in
            let path = folder + "/agent.yaml"
            try "agent:\n  name: x\n".write(toFile: path, atomically: true, encoding: .utf8)
            let value = try ConfigValue.load(file: path)
            #expect(value.file == path)
            #expect(try value.mapping().required("agent").mapping().required("name").line == 2)
        }
    }

    @Test func loadOfAMissingFileIsLineZero() throws {
        try withTemporaryDirectory { folder in
            let path = folder + "/missing.yaml"
            #expect(configError { () throws(ConfigError) in try ConfigValue.load(file: path) }?.description
                == "\(path):0: cannot read the config: no such file")
        }
    }

    @Test func loadOfADirectoryIsLineZero() throws {
        try withTemporaryDirectory { folder in
            #expect(configError { () throws(ConfigError) in try ConfigValue.load(file: folder) }?.description
                == "\(folder):0: cannot read the config: it is a directory")
        }
    }

    @Test func loadOfBinaryIsLineZero() throws {
        try withTemporaryDirectory { folder in
            let path = folder + "/bad.yaml"
            try Data([0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a]).write(to: URL(fileURLWithPath: path))
            #expect(configError { () throws(ConfigError) in try ConfigValue.load(file: path) }?.description
                == "\(path):0: the config is not UTF-8 text")
        }
    }

    @Test func loadReportsSyntaxErrorsWithTheFile() throws {
        try withTemporaryDirectory { folder in
            let path = folder + "/agent.yaml"
            try "agent:\n  name: x\n  name: y\n".write(toFile: path, atomically: true, encoding: .utf8)
            let error = configError { () throws(ConfigError) in try ConfigValue.load(file: path) }
            #expect(error?.file == path)
            #expect(error?.message == "duplicate key 'name'")
        }
    }
}
