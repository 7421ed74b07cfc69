@testable import FlasherCore
import Testing

@Suite struct JSONTests {
    @Test func parsesNestedValues() throws {
        let value = try JSON(parsing: #" {"a": [1, -2.5e3, true, false, null, {"b": "c\"\\\/\n\u00e9\ud83d\ude00"}], "n": 0} "#)
        #expect(value["a"]?.arrayValue?.count == 6)
        #expect(value["a"]?.arrayValue?[1] == .number(-2500))
        #expect(value["a"]?.arrayValue?[5]["b"]?.stringValue == "c\"\\/\n\u{e9}\u{1F600}")
        #expect(value["n"]?.integerValue == 0)
    }

    @Test func roundTrips() throws {
        let value = JSON.object([("s", .string("a\"b\\c\n\u{01}é")), ("n", .number(1073741824)), ("f", .number(0.5)),
                                 ("l", .array([.null, .bool(true)]))])
        #expect(try JSON(parsing: value.serialized) == value)
        #expect(value.serialized.contains("\\u0001"))
    }

    @Test func integersAreExactOnly() throws {
        #expect(try JSON(parsing: "9007199254740992").integerValue == 9_007_199_254_740_992)
        #expect(try JSON(parsing: "9007199254740993000").integerValue == nil)
        #expect(try JSON(parsing: "1.5").integerValue == nil)
    }

    @Test(arguments: [
        ("", "end of input"), ("{", "end of input"), ("[1,]", "expected a value"), ("{\"a\" 1}", "expected ':'"),
        ("{\"a\":1,}", "member name"), ("{a:1}", "member name"), ("[1 2]", "expected ','"), ("01", "leading zeros"),
        ("1.", "digits after"), ("1e", "exponent"), ("-", "digits"), ("1e999", "out of range"), ("tru", "expected a value"),
        ("\"abc", "unterminated"), ("\"a\u{01}b\"", "control character"), ("\"\\x\"", "unknown escape"),
        ("\"\\u12\"", "four hex"), ("\"\\ud800\"", "without its low"), ("\"\\udc00\"", "lone low"),
        ("\"\\ud800\\u0041\"", "not a low"), ("{\"a\":1,\"a\":2}", "duplicate"), ("[] []", "after the value"),
        ("nul", "expected a value"), ("[\"\u{FFFD}\"] x", "after the value"),
    ])
    func hostileJSONIsRefused(_ input: String, _ expected: String) {
        do {
            _ = try JSON(parsing: input)
            Issue.record("'\(input)' was accepted")
        } catch {
            #expect(error.message.contains(expected), "'\(input)': \(error)")
        }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONError.self) { try JSON(parsing: [0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func deepNestingIsRefused() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONError.self) { try JSON(parsing: deep) }
        #expect(throws: Never.self) { try JSON(parsing: String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) }
    }

    @Test func manifest() throws {
        let sha = String(repeating: "0", count: 64)
        let text = """
            {"images": [{"name": "rootfs", "url": "http://10.0.2.2:8080/r.img.xz", "sha256": "\(sha)", "size": 1048576,
                         "compression": "xz", "bmap": "http://10.0.2.2:8080/r.bmap", "target": "/dev/vda"},
                        {"url": "http://10.0.2.2:8080/Image", "target": "/dev/vda1:/Image"}],
             "verify": false, "after": "poweroff"}
            """
        let job = try JobManifest.parse(Array(text.utf8), jobURL: HTTPURL(parsing: "http://10.0.2.2:8080/api/v1/jobs/7"))
        #expect(job.images.count == 2)
        #expect(job.images[0].compression == .xz)
        #expect(job.images[0].size == 1_048_576)
        #expect(job.images[1].name == "image1")
        #expect(job.images[1].target.file == "/Image")
        #expect(job.verify == false && job.after == .poweroff)
        #expect(job.eventsURL?.target == "/api/v1/jobs/7/events")
        #expect(job.ignoredMembers.isEmpty)
    }

    /// What a newer agent adds is skipped and named, so the flasher images
    /// boards boot keep working with it; what the agent writes today reads.
    @Test func aNewerAgentsManifestReads() throws {
        let text = #"{"after":"reboot","colour":"red","images":[{"name":"rootfs","target":"\/dev\/vda","url":"http:\/\/h:8080\/u\/a\/d.img","erase":{"first":true}}],"v":1,"verify":true}"#
        let job = try JobManifest.parse(Array(text.utf8), jobURL: HTTPURL(parsing: "http://h:8080/api/v1/jobs/7"))
        #expect(job.ignoredMembers == ["colour", "images[0].erase"])
        #expect(job.images.map(\.name) == ["rootfs"] && job.images[0].url.description == "http://h:8080/u/a/d.img")
        #expect(job.images[0].target.device == "/dev/vda")
    }

    @Test(arguments: [
        ("[]", "expected an object"), ("{}", "no \"images\""), ("{\"images\": []}", "empty"),
        ("{\"images\": {}}", "must be an array"), ("{\"images\": [1]}", "must be an object"),
        ("{\"images\": [{\"url\": \"http://h/x\"}]}", "no \"target\""),
        ("{\"images\": [{\"target\": \"/dev/vda\"}]}", "no \"url\""),
        ("{\"images\": [{\"url\": 5, \"target\": \"/dev/vda\"}]}", "must be a string"),
        ("{\"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\", \"size\": 1.5}]}", "whole number"),
        ("{\"v\": 2, \"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}]}", "wire version 2, this flasher reads up to 1"),
        ("{\"v\": 1e19, \"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}]}", "must be a wire version"),
        ("{\"v\": -1, \"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}]}", "must be a wire version"),
        ("{\"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}], \"verify\": \"yes\"}", "true or false"),
        ("{\"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\", \"name\": \"../x\"}]}", "letters"),
        ("{\"images\": [{\"url\": \"https://h/x\", \"target\": \"/dev/vda\"}]}", "HTTPS"),
        ("{\"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}] ", "JSON at byte"),
        // The secret goes back in a header: no line breaks, nothing huge.
        ("{\"secret\": \"a\\r\\nX-Forged: 1\", \"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}]}", "printable ASCII"),
        ("{\"secret\": \"\", \"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}]}", "printable ASCII"),
        ("{\"secret\": 5, \"images\": [{\"url\": \"http://h/x\", \"target\": \"/dev/vda\"}]}", "printable ASCII"),
    ])
    func hostileManifestsAreRefused(_ text: String, _ expected: String) throws {
        do throws(FlasherError) {
            _ = try JobManifest.parse(Array(text.utf8), jobURL: HTTPURL(host: "h", port: 80, target: "/j"))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.phase == .manifest)
            #expect(error.what.contains(expected), "\(text): \(error)")
        }
    }
}
