import ProvisionerCore
import Testing

@Suite("ConfigMapping: required, optional and unknown keys")
struct ConfigMappingTests {
    @Test func requiredAndOptionalKeys() throws {
        let top = try mapping("name: web\nport: 80\n")
        #expect(try top.required("name").string() == "web")
        #expect(try top.optional("port")?.int(in: 1...65535) == 80)
        #expect(top.optional("timeout") == nil)
        try top.finish()
    }

    @Test func missingRequiredKeyAtTheTopLevel() throws {
        let top = try mapping("# config\nname: web\n")
        #expect(configError { () throws(ConfigError) in try top.required("port") }?.description
            == "test.yaml:2: missing required key 'port'")
    }

    @Test func missingRequiredKeyInANestedMapping() throws {
        let agent = try mapping("agent:\n  name: x\n").required("agent").mapping()
        #expect(configError { () throws(ConfigError) in try agent.required("data_dir") }?.description
            == "test.yaml:2: agent: missing required key 'data_dir'")
    }

    @Test func missingRequiredKeyInAFlowMapping() throws {
        let serial = try mapping("name: b\nserial: { baud: 115200 }\n").required("serial").mapping()
        #expect(configError { () throws(ConfigError) in try serial.required("device") }?.description
            == "test.yaml:2: serial: missing required key 'device'")
    }

    @Test(arguments: ["name:", "name: ~", "name: null", "name:    # nothing here"])
    func keyWithoutValueIsAbsent(_ line: String) throws {
        let top = try mapping("\(line)\nport: 80\n")
        #expect(top.optional("name") == nil)
        #expect(configError { () throws(ConfigError) in try top.required("name") }?.message == "missing required key 'name'")
        _ = top.optional("port")
        try top.finish()  // the empty key was read: it is not unknown
    }

    @Test func quotedEmptyStringIsPresentButNotAWord() throws {
        let top = try mapping("name: \"\"\n")
        let value = try #require(top.optional("name"))
        #expect(try value.string() == "")
        #expect(configError { () throws(ConfigError) in try value.word() }?.description == "test.yaml:1: name: must not be empty")
    }

    @Test func blankStringIsNotAWord() throws {
        let top = try mapping("name: \"   \"\n")
        #expect(configError { () throws(ConfigError) in try top.required("name").word() }?.message == "name: must not be empty")
    }

    @Test func unknownKeyAtTheTopLevelNamesKeyAndLine() throws {
        let top = try mapping("name: web\nport: 80\ncolour: blue\n")
        _ = top.optional("name")
        _ = top.optional("port")
        #expect(configError { () throws(ConfigError) in try top.finish() }?.description
            == "test.yaml:3: unknown key 'colour' (known: name, port)")
    }

    @Test func unknownKeyInANestedMappingNamesKeyPathAndLine() throws {
        let text = """
            server:
              name: web
              colour: blue
              port: 80
            """
        let server = try mapping(text).required("server").mapping()
        _ = try server.required("port")
        _ = try server.required("name")
        #expect(configError { () throws(ConfigError) in try server.finish() }?.description
            == "test.yaml:3: unknown key 'colour' in server (known: name, port)")
    }

    @Test func unknownKeyInAListItem() throws {
        let boards = try mapping("boards:\n  - name: a\n  - name: b\n    baud: 9600\n").required("boards").list()
        let second = try boards[1].mapping()
        _ = second.optional("name")
        #expect(configError { () throws(ConfigError) in try second.finish() }?.description
            == "test.yaml:4: unknown key 'baud' in boards[1] (known: name)")
    }

    @Test func theFirstUnknownKeyIsReported() throws {
        let top = try mapping("a: 1\nb: 2\nc: 3\n")
        _ = top.optional("b")
        #expect(configError { () throws(ConfigError) in try top.finish() }?.line == 1)
    }

    @Test func mappingErrorIsAtTheMapping() throws {
        let server = try mapping("x: 1\nserver:\n  name: web\n").required("server").mapping()
        #expect(server.path == "server")
        #expect(server.error("no route").description == "test.yaml:3: server: no route")
        #expect(try mapping("a: 1\n").error("bad").description == "test.yaml:1: bad")
    }
}
