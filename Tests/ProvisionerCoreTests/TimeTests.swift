import Foundation
import ProvisionerCore
import SystemSupport
import Testing

/// The one time formatter and calendar maths (`ISOTime`, `CivilTime`),
/// checked against Foundation's ISO 8601 formatter.
struct TimeTests {
    static func foundation(_ seconds: Int64, zone: TimeZone = TimeZone(identifier: "UTC")!, fraction: Bool = false) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        formatter.formatOptions = fraction ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
    }

    static let samples: [Int64] = [0, 1, -1, 59, 86_399, 86_400, 951_782_400, 951_868_800, 1_709_164_800, 1_796_144_400,
                                   4_102_444_799, 4_107_542_400, -2_208_988_800, 253_402_300_799]

    @Test func utcMatchesFoundationAndReadsBack() throws {
        var values = Self.samples
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        for _ in 0..<2000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            values.append(Int64(seed >> 30) % 253_402_300_799)
        }
        for seconds in values {
            let text = ISOTime.format(seconds)
            #expect(text == Self.foundation(seconds), "\(seconds)")
            #expect(ISOTime.parse(text.utf8)?.seconds == seconds, "\(text)")
            #expect(parseISOTime(text) == Double(seconds))
        }
    }

    @Test func millisecondsAndOffsets() throws {
        #expect(ISOTime.format(1_796_144_400.1234, millis: true) == "2026-12-01T17:00:00.123Z")
        #expect(ISOTime.format(1_796_144_400, offset: 3600) == "2026-12-01T18:00:00+01:00")
        #expect(ISOTime.format(1_796_144_400, offset: -9000) == "2026-12-01T14:30:00-02:30")
        #expect(ISOTime.parse("2026-12-01T18:00:00+01:00".utf8)?.seconds == 1_796_144_400)
        #expect(ISOTime.parse("2026-12-01T17:00:00.5z".utf8).map { [$0.seconds, Int64($0.millis)] } == [1_796_144_400, 500])
        #expect(ISOTime.parse("2026-12-01T17:00:00.123456Z".utf8)?.millis == 123)
        for bad in ["2026-12-01T17:00:00", "2026-13-01T17:00:00Z", "2026-12-01 17:00:00Z", "2026-12-01T17:00:00.Z",
                    "2026-12-01T17:00:00+1:00", "2026-12-01T24:00:00Z", "２０26-12-01T17:00:00Z", ""] {
            #expect(ISOTime.parse(bad.utf8) == nil, "\(bad)")
        }
        #expect(parseISOTime("2026-12-01T18:00:00+01:00") == nil, "hold takes UTC only")
    }

    @Test func theLocalZoneMatchesFoundation() {
        for seconds in Self.samples.filter({ $0 >= 0 && $0 < 4_200_000_000 }) {
            #expect(TimeText.format(seconds) == Self.foundation(seconds, zone: .current), "\(seconds)")
        }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, 1e19, -1e19, 1e300, 1e-300, -1, 9.3e18])
    func hostileNumbersAreBoundedNeverATrap(value: Double) {
        let text = isoTime(value)
        #expect(text.count == 20 && text.hasSuffix("Z"), "\(text)")
        #expect(ISOTime.format(value, millis: true).count == 24)
    }

    @Test func hostileIntegersAreBounded() {
        #expect(ISOTime.format(Int64.max) == "9999-12-31T23:59:59Z")
        #expect(ISOTime.format(Int64.min) == "0001-01-01T00:00:00Z")
        #expect(ISOTime.format(Int64.max, offset: Int.max).count == 25)
        #expect(TimeText.format(Int64.max).hasPrefix("9999-12-31"))
    }
}
