/// Times as people, logs and JSON write them: the one formatter and parser
/// of ISO 8601 / RFC 3339 times in the code base (`2026-12-01T18:00:00Z`,
/// `…T18:00:00.123Z`, `…T19:00:00+01:00`), and the one calendar maths
/// (`CivilTime`), without Foundation. Every time is bounded to the years
/// 1 to 9999 before it is converted: a hostile number never traps.

/// A date and time of day in the proleptic Gregorian calendar.
public struct CivilTime: Sendable, Equatable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in Unix seconds.
    public static let earliest: Int64 = -62_135_596_800
    public static let latest: Int64 = 253_402_300_799

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The UTC civil time of `seconds` (clamped to the years 1 to 9999).
    public init(unixSeconds seconds: Int64) {
        let seconds = min(max(seconds, Self.earliest), Self.latest)
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = Int(seconds - days * 86400)
        let (year, month, day) = Self.civil(fromDays: days)
        self.init(year: year, month: month, day: day, hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }

    /// Unix seconds of this time read as UTC (a leap second counts as :59).
    public var unixSeconds: Int64 {
        Self.days(year: year, month: month, day: day) * 86400 + Int64(hour * 3600 + minute * 60 + min(second, 59))
    }

    /// Days since 1970-01-01 of a date (Howard Hinnant's days_from_civil).
    public static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = Int64((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1)
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// The date `days` after 1970-01-01 (civil_from_days).
    public static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }
}

public enum ISOTime {
    /// `2026-12-01T18:00:00Z`; with `millis`, `…:00.123Z`; with a UTC
    /// offset in seconds other than 0, local time and `+01:00`.
    public static func format(_ seconds: Int64, millis: Int? = nil, offset: Int = 0) -> String {
        let offset = min(max(offset, -86_399), 86_399)
        let local = CivilTime(unixSeconds: seconds.addingReportingOverflow(Int64(offset)).partialValue)
        // Written as bytes: listings format tens of thousands of these.
        var text: [UInt8] = []
        text.reserveCapacity(30)
        func digits(_ value: Int, _ width: Int) {
            var value = max(value, 0), place = 1
            for _ in 1..<width { place *= 10 }
            while value / place >= 10 { place *= 10 }
            while place > 0 {
                text.append(UInt8(0x30 + value / place % 10))
                place /= 10
            }
        }
        digits(local.year, 4); text.append(0x2D); digits(local.month, 2); text.append(0x2D); digits(local.day, 2)
        text.append(0x54)
        digits(local.hour, 2); text.append(0x3A); digits(local.minute, 2); text.append(0x3A); digits(local.second, 2)
        if let millis {
            text.append(0x2E)
            digits(min(max(millis, 0), 999), 3)
        }
        if offset == 0 {
            text.append(0x5A)
        } else {
            let minutes = abs(offset) / 60
            text.append(offset < 0 ? 0x2D : 0x2B)
            digits(minutes / 60, 2); text.append(0x3A); digits(minutes % 60, 2)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `format` of a time with a fraction (bounded; nan and infinities
    /// are the epoch).
    public static func format(_ seconds: Double, millis: Bool = false) -> String {
        let bounded = seconds.isFinite ? min(max(seconds, Double(CivilTime.earliest)), Double(CivilTime.latest)) : 0
        let whole = bounded.rounded(.down)
        return format(Int64(whole), millis: millis ? min(Int((bounded - whole) * 1000), 999) : nil)
    }

    /// An RFC 3339 date-time with an offset (`Z`, `z`, `+01:00`), seconds
    /// and an optional fraction: its Unix time (whole seconds) and the
    /// fraction's milliseconds. Nil when it is not one.
    public static func parse<Bytes: Collection<UInt8>>(_ text: Bytes) -> (seconds: Int64, millis: Int)? {
        let bytes = Array(text)
        guard bytes.count >= 20, let year = number(bytes, 0, 4), bytes[4] == 0x2d, let month = number(bytes, 5, 2),
              bytes[7] == 0x2d, let day = number(bytes, 8, 2), bytes[10] == 0x54 || bytes[10] == 0x74,
              let hour = number(bytes, 11, 2), bytes[13] == 0x3a, let minute = number(bytes, 14, 2), bytes[16] == 0x3a,
              let second = number(bytes, 17, 2), (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second <= 60 else { return nil }
        var index = 19
        var millis = 0
        if bytes[index] == 0x2e {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if index - start < 3 { millis = millis * 10 + Int(bytes[index] - 0x30) }
                index += 1
            }
            guard index > start else { return nil }
            for _ in min(index - start, 3)..<3 { millis *= 10 }
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        switch bytes[index] {
        case 0x5a, 0x7a:
            guard index + 1 == bytes.count else { return nil }
        case 0x2b, 0x2d:
            guard bytes.count == index + 6, let hours = number(bytes, index + 1, 2), bytes[index + 3] == 0x3a,
                  let minutes = number(bytes, index + 4, 2), hours < 24, minutes < 60 else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == 0x2b ? 1 : -1)
        default:
            return nil
        }
        let civil = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return (civil.unixSeconds - Int64(offset), millis)
    }

    /// Days since 1970-01-01 of a date `2026-03-01`, or nil.
    public static func days<Bytes: Collection<UInt8>>(ofDate text: Bytes) -> Int64? {
        let bytes = Array(text)
        guard bytes.count == 10, let year = number(bytes, 0, 4), bytes[4] == 0x2d, let month = number(bytes, 5, 2),
              bytes[7] == 0x2d, let day = number(bytes, 8, 2), (1...12).contains(month), (1...31).contains(day) else { return nil }
        return CivilTime.days(year: year, month: month, day: day)
    }

    /// The number in `count` ASCII digits at `start`, or nil.
    static func number(_ bytes: [UInt8], _ start: Int, _ count: Int) -> Int? {
        var value = 0
        for byte in bytes[start..<(start + count)] {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    static func pad(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// `2026-12-01T18:00:00Z` (exactly: UTC, whole seconds) as Unix seconds.
public func parseISOTime(_ text: String) -> Double? {
    guard text.utf8.count == 20, text.utf8.last == 0x5a, let time = ISOTime.parse(text.utf8) else { return nil }
    return Double(time.seconds)
}

/// Unix seconds as `2026-12-01T18:00:00Z` (bounded: never a trap).
public func isoTime(_ seconds: Double) -> String { ISOTime.format(seconds) }
