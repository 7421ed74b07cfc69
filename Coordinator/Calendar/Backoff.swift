/// Exponential backoff with jitter (Google's advice for 403 rate limits,
/// 429 and 5xx): attempt n waits `base * 2^n`, at most `limit`, times a
/// random factor from 0.5 to 1.5, so many calendars do not retry in step.
struct Backoff: Sendable {
    var base: Double
    var limit: Double

    func delay(attempt: Int) -> Double {
        let plain = min(limit, base * Double(1 << min(attempt, 30)))
        return plain * Double.random(in: 0.5...1.5)
    }
}
