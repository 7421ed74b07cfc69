/// The last `capacity` bytes of a console, replayed to a session on attach.
struct ScrollbackBuffer {
    let capacity: Int
    private var storage: [UInt8]
    /// Where the next byte goes once the buffer is full.
    private var start = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = []
        storage.reserveCapacity(capacity)
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard capacity > 0 else { return }
        var input = bytes
        if input.count >= capacity {
            input = UnsafeRawBufferPointer(rebasing: input[(input.count - capacity)...])
            storage = Array(input)
            start = 0
            return
        }
        let room = capacity - storage.count
        if room > 0 {
            let taken = min(room, input.count)
            storage.append(contentsOf: input[..<taken])
            input = UnsafeRawBufferPointer(rebasing: input[taken...])
        }
        // Full: overwrite the oldest bytes, wrapping around.
        while !input.isEmpty {
            let run = min(capacity - start, input.count)
            storage.withUnsafeMutableBytes { target in
                UnsafeMutableRawBufferPointer(rebasing: target[start..<(start + run)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: input[..<run]))
            }
            start = (start + run) % capacity
            input = UnsafeRawBufferPointer(rebasing: input[run...])
        }
    }

    /// The buffered bytes, oldest first.
    func contents() -> [UInt8] {
        guard start > 0 else { return storage }
        return Array(storage[start...] + storage[..<start])
    }
}
