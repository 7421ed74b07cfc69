import Foundation
import SystemSupport

/// Times as users read and type them: ISO 8601, in the coordinator's time
/// zone (TZ) unless a zone is given. The coordinator and a lone agent
/// (its own reservations) read and print times this way.
public enum TimeText {
    /// `2026-12-01T18:00:00+01:00` (or `…Z` in UTC): `ISOTime` with the
    /// offset of the process's time zone at that instant.
    public static func format(_ seconds: Int64) -> String {
        let bounded = min(max(seconds, CivilTime.earliest), CivilTime.latest)
        var time = time_t(bounded)
        var parts = tm()
        let offset = localtime_r(&time, &parts) == nil ? 0 : Int(parts.tm_gmtoff)
        return ISOTime.format(bounded, offset: offset)
    }

    /// `2026-12-01T18:00`, `…:30`, with an optional `Z` or `+01:00`; a space
    /// may stand for the T. Nil when it is none of these.
    public static func parse(_ text: String) -> Int64? {
        let normalized = text.replacingOccurrences(of: " ", with: "T")
        for format in ["yyyy-MM-dd'T'HH:mmXXXXX", "yyyy-MM-dd'T'HH:mm:ssXXXXX", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = .current
            formatter.dateFormat = format
            if let date = formatter.date(from: normalized) { return Int64(date.timeIntervalSince1970) }
        }
        return nil
    }
}
