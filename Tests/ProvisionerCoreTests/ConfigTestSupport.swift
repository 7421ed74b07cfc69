import Foundation
import ProvisionerCore

/// The parsed root of `text`, as if read from `file`.
func root(_ text: String, file: String = "test.yaml") throws -> ConfigValue {
    try ConfigValue.parse(text, file: file)
}

/// The root of `text` as a mapping.
func mapping(_ text: String, file: String = "test.yaml") throws -> ConfigMapping {
    try ConfigValue.parse(text, file: file).mapping()
}

/// The error `body` throws, or nil when it succeeds.
func configError<T>(_ body: () throws(ConfigError) -> T) -> ConfigError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// A fresh folder made by mkdtemp(3) for one test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/config-tests.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}
