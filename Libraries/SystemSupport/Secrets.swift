/// Equal length and bytes, in time that depends only on the lengths: for
/// comparing a presented token or secret with the real one.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
        let x = index < a.count ? a[index] : 0
        let y = index < b.count ? b[index] : 0
        difference |= x ^ y
    }
    return difference == 0
}

/// Bytes from the kernel's random pool, through Swift's system generator
/// (the getrandom system call): no descriptor is opened, so a process out of
/// descriptors still makes its tokens, secrets and temp names.
public func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
