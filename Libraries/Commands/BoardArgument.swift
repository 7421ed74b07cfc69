import ArgumentParser

extension ArgumentHelp {
    /// The board a command acts on; named BOARD in every message.
    static let board = ArgumentHelp("The board.", valueName: "BOARD")
    /// An admin's override of someone else's reservation (audited).
    static let force = ArgumentHelp("An admin acts on a board someone else holds (written to the audit log).")
}

/// `words` helpers: an option and its value, when it has one.
func option(_ name: String, _ value: String?) -> [String] {
    value.map { [name, $0] } ?? []
}

func flag(_ name: String, _ isSet: Bool) -> [String] {
    isSet ? [name] : []
}
