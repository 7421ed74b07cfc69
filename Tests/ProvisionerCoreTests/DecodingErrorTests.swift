import Foundation
import SystemSupport
import Testing

/// `DecodingError.fieldProblem`: the field at fault and what is wrong, for one error line.
struct DecodingErrorTests {
    struct Answer: Decodable {
        struct Item: Decodable {
            var name: String
            var size: Int64?
            var tags: [String: String]?
            var on: Bool?
        }

        var items: [Item]?
    }

    static func problem(_ text: String) -> String?? {
        do {
            _ = try JSONDecoder().decode(Answer.self, from: Data(text.utf8))
            return .none
        } catch {
            return .some((error as? DecodingError)?.fieldProblem)
        }
    }

    @Test func namesTheFieldNeverTheValue() {
        #expect(Self.problem(#"{"items": [{"name": "a"}, {"name": 5}]}"#) == "items[1].name is not a string")
        #expect(Self.problem(#"{"items": [{"name": "a", "size": "big"}]}"#) == "items[0].size is not a number")
        #expect(Self.problem(#"{"items": [{"name": "a", "on": "yes"}]}"#) == "items[0].on is not true or false")
        #expect(Self.problem(#"{"items": [{"name": "a", "tags": {"secret": 1}}]}"#) == "items[0].tags.secret is not a string")
        #expect(Self.problem(#"{"items": [{"size": 1}]}"#) == "items[0].name is missing")
        #expect(Self.problem(#"{"items": [{"name": null}]}"#) == "items[0].name is null")
        #expect(Self.problem(#"{"items": {"name": "a"}}"#) == "items is not an array")
        #expect(Self.problem(#"{"items": ["a"]}"#) == "items[0] is not an object")
    }

    @Test func theValueItselfWrongIsLeftToTheCaller() {
        #expect(Self.problem("[]") == .some(nil))
        #expect(Self.problem("not JSON") == .some(nil))
        #expect(Self.problem(#"{"items": [], "extra": {"ignored": [1e300, 99999999999999999999]}}"#) == .none)
    }
}
