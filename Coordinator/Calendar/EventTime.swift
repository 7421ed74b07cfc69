import Foundation

/// Times as the Calendar API writes them: RFC 3339 `dateTime`
/// ("2026-03-01T10:00:00+01:00", "…Z", fractions allowed) and all-day
/// `date` ("2026-03-01", midnight in the calendar's time zone).
enum EventTime {
    /// Unix seconds of an RFC 3339 date-time with an offset; nil if malformed.
    static func parseDateTime(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, let date = civilDate(bytes[0..<10]), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
              let hour = number(bytes[11..<13]), bytes[13] == UInt8(ascii: ":"),
              let minute = number(bytes[14..<16]), bytes[16] == UInt8(ascii: ":"),
              let second = number(bytes[17..<19]), hour < 24, minute < 60, second <= 60 else { return nil }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        }
        guard index < bytes.count else { return nil }
        var offset: Int64 = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == bytes.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard bytes.count == index + 6, let hours = number(bytes[(index + 1)..<(index + 3)]),
                  bytes[index + 3] == UInt8(ascii: ":"), let minutes = number(bytes[(index + 4)..<(index + 6)]) else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        return date * 86400 + hour * 3600 + minute * 60 + min(second, 59) - offset
    }

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
    static func format(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)
        func pad(_ value: Int64, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month))-\(pad(day))T\(pad(rest / 3600)):\(pad(rest % 3600 / 60)):\(pad(rest % 60))Z"
    }

    /// Days since 1970-01-01 of "YYYY-MM-DD".
    private static func civilDate(_ bytes: ArraySlice<UInt8>) -> Int64? {
        let start = bytes.startIndex
        guard bytes.count == 10, let year = number(bytes[start..<(start + 4)]), bytes[start + 4] == UInt8(ascii: "-"),
              let month = number(bytes[(start + 5)..<(start + 7)]), bytes[start + 7] == UInt8(ascii: "-"),
              let day = number(bytes[(start + 8)..<(start + 10)]), (1...12).contains(month), (1...31).contains(day) else { return nil }
        return daysFromCivil(year, month, day)
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return bytes.isEmpty ? nil : value
    }

    /// Howard Hinnant's days_from_civil (proleptic Gregorian).
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
