import AgentShell
import ShellSupport
import Testing

struct ConsoleEscapeTests {
    @Test func plainBytesAreTyped() {
        var escape = ConsoleEscape()
        #expect(escape.feed(Array("ls\r".utf8)) == [.send(Array("ls\r".utf8))])
    }

    @Test func ctrlBracketThenDotDetaches() {
        var escape = ConsoleEscape()
        #expect(escape.feed([0x61, 0x1D, 0x2E, 0x62]) == [.send([0x61]), .showMenu, .detach, .send([0x62])])
    }

    @Test func theMenuKeyCanArriveInTheNextPacket() {
        var escape = ConsoleEscape()
        #expect(escape.feed([0x1D]) == [.showMenu])
        #expect(escape.feed(Array("c".utf8)) == [.powerCycle])
        #expect(escape.feed([0x1D, UInt8(ascii: "b")]) == [.showMenu, .sendBreak])
    }

    @Test func doubleCtrlBracketSendsOneAndOtherKeysCancel() {
        var escape = ConsoleEscape()
        #expect(escape.feed([0x1D, 0x1D]) == [.showMenu, .send([0x1D])])
        #expect(escape.feed([0x1D, UInt8(ascii: "x"), UInt8(ascii: "y")]) == [.showMenu, .cancel, .send([UInt8(ascii: "y")])])
    }
}

struct LineEditorTests {
    @Test func backspaceErasesAndEnterSubmits() {
        var editor = LineEditor()
        let events = Array("helpx".utf8).compactMap { editor.feed($0) } + [editor.feed(0x7F), editor.feed(0x0D), editor.feed(0x0A)].compactMap { $0 }
        #expect(events.last == .submit("help"))
        #expect(events.contains(.echo([0x08, 0x20, 0x08])))
        #expect(events.filter { if case .submit = $0 { return true } else { return false } }.count == 1, "CR LF is one Enter")
    }

    @Test func ctrlCDropsTheLineAndCtrlDOnlyEndsAnEmptyLine() {
        var editor = LineEditor()
        _ = Array("abc".utf8).map { editor.feed($0) }
        #expect(editor.feed(0x04) == nil)
        #expect(editor.feed(0x03) == .interrupt)
        #expect(editor.line.isEmpty)
        #expect(editor.feed(0x04) == .endOfInput)
    }

    @Test func backspaceRemovesAWholeUTF8Character() {
        var editor = LineEditor()
        for byte in Array("aé".utf8) { _ = editor.feed(byte) }
        _ = editor.feed(0x7F)
        #expect(editor.line == [UInt8(ascii: "a")])
    }
}

struct ShellWordsTests {
    @Test func splitsOnBlanksAndHonoursQuotes() throws {
        #expect(try ShellWords.split("  power  board1 cycle ") == ["power", "board1", "cycle"])
        #expect(try ShellWords.split(#"netboot b --args "console=ttyAMA0 quiet" 'x y' a\ b"#)
                == ["netboot", "b", "--args", "console=ttyAMA0 quiet", "x y", "a b"])
        #expect(try ShellWords.split("''") == [""])
    }

    @Test(arguments: [["netboot", "b1", "--args", "console=ttyAMA0 quiet"], ["upload", "b1", "it's here"], [""],
                      ["--wait-regex", "cmdline: .*on=x86", "a\\b", "\"q\""]])
    func quotedWordsSplitBackUnchanged(words: [String]) throws {
        #expect(try ShellWords.split(words.map(ShellWords.quote).joined(separator: " ")) == words)
    }

    @Test func anUnterminatedQuoteIsAUsageError() {
        #expect(throws: ShellWords.SyntaxError(message: "unterminated quote in the command line")) { try ShellWords.split("echo 'x") }
    }
}

struct IdentityTests {
    @Test func keyCommentsBecomeUserNames() {
        #expect(AgentKeyring.userName(fromComment: "alice@laptop", fingerprint: "SHA256:x") == "alice")
        #expect(AgentKeyring.userName(fromComment: "Bob Smith", fingerprint: "SHA256:x") == "bob-smith")
        #expect(AgentKeyring.userName(fromComment: "..Éve", fingerprint: "SHA256:x") == "ve")
        #expect(AgentKeyring.userName(fromComment: "", fingerprint: "SHA256:AbCdEfGh123") == "key-abcdefgh")
    }

    @Test func coordinatorsNameTheUserPeopleDoNot() throws {
        let (named, rest) = try ShellIdentity.resolve(role: .coordinator(name: "lab"), environment: ["PROVISIONER_USER": "zed"],
                                                      words: ["--as", "amy", "boards"])
        #expect(named == ShellIdentity(user: "amy", coordinator: "lab"))
        #expect(rest == ["boards"])
        let (fromEnvironment, _) = try ShellIdentity.resolve(role: .coordinator(name: "lab"), environment: ["PROVISIONER_USER": "zed"], words: [])
        #expect(fromEnvironment.user == "zed")
        #expect(throws: ShellError.self) {
            try ShellIdentity.resolve(role: .person(user: "alice"), environment: ["PROVISIONER_USER": "zed"], words: ["boards"])
        }
        let (same, _) = try ShellIdentity.resolve(role: .person(user: "alice"), environment: ["PROVISIONER_USER": "alice"], words: [])
        #expect(same.user == "alice")
    }
}
