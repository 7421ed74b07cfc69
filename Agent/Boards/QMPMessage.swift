/// The QMP JSON the agent sends and reads (QEMU's docs/interop/qmp-spec).
/// Fields QEMU adds are ignored; the ones it leaves out are nil.

/// `{"execute": "cont"}` or `{"execute": …, "arguments": {…}}`: the command's
/// arguments are a value of its own `Encodable` type.
struct QMPRequest<Arguments: Encodable>: Encodable {
    var execute: String
    /// Left out of the JSON when nil.
    var arguments: Arguments?
}

/// The arguments type of a command sent without any.
struct QMPNoArguments: Encodable {}

/// Any JSON value, not read: the `return` of a command whose answer does
/// not matter (`cont`, `quit`, mostly `{}`).
struct QMPIgnored: Decodable {
    init(from decoder: any Decoder) throws {}
}

/// One line from QEMU: the greeting (`{"QMP": …}`), a command's answer
/// (`{"return": …}` or `{"error": …}`), or an event (`{"event": …}`, none
/// of those keys).
struct QMPMessage<Reply: Decodable>: Decodable {
    struct Failure: Decodable {
        /// e.g. "GenericError", "CommandNotFound".
        var `class`: String?
        /// The human-readable text.
        var desc: String?
    }

    var isGreeting: Bool
    /// The command's `return` value, when this is its answer.
    var reply: Reply?
    var error: Failure?

    enum CodingKeys: String, CodingKey {
        case greeting = "QMP", reply = "return", error
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        isGreeting = container.contains(.greeting)
        // Read even when null: `contains` decides that this is the answer.
        reply = container.contains(.reply) ? try container.decode(Reply.self, forKey: .reply) : nil
        error = try container.decodeIfPresent(Failure.self, forKey: .error)
    }
}

/// The `return` of `query-status`.
struct QMPStatus: Decodable {
    /// False while paused (`-S`, `stop`) or ended.
    var running: Bool
}

/// One entry of the `return` of `query-chardev`.
struct QMPChardev: Decodable {
    /// The `id` given on the command line (`s0`).
    var label: String?
    /// For a pty: "pty:/dev/pts/N".
    var filename: String?
}
