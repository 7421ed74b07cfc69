import Foundation
import SystemSupport

/// Times as the Calendar API writes them: RFC 3339 `dateTime`
/// ("2026-03-01T10:00:00+01:00", "…Z", fractions allowed) and all-day
/// `date` ("2026-03-01", midnight in the calendar's time zone).
enum EventTime {
    /// Unix seconds of an RFC 3339 date-time with an offset; nil if malformed.
    static func parseDateTime(_ text: String) -> Int64? { ISOTime.parse(text.utf8)?.seconds }

    /// Unix seconds of midnight starting `text` ("YYYY-MM-DD") in `timeZone`
    /// (an IANA name; UTC when nil or unknown).
    static func parseDate(_ text: String, timeZone: String?) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, let days = civilDate(bytes[0..<10]) else { return nil }
        let midnightUTC = days * 86400
        guard let name = timeZone, let zone = TimeZone(identifier: name) else { return midnightUTC }
        // The zone's offset at local midnight: guess with the UTC instant, then correct once.
        var offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(midnightUTC))))
        offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(midnightUTC - offset))))
        return midnightUTC - offset
    }

    /// "2026-03-01T09:00:00Z" for Unix seconds, as sent to Google.
    static func format(_ seconds: Int64) -> String { ISOTime.format(seconds) }

    /// Days since 1970-01-01 of "YYYY-MM-DD".
    private static func civilDate(_ bytes: ArraySlice<UInt8>) -> Int64? { ISOTime.days(ofDate: bytes) }
}
