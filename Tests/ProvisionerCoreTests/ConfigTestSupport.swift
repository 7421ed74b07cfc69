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

