import GPIO
import Testing

/// The error opening `chip` raises, or nil when it opens (it never should here:
/// there is no GPIO hardware on a CI machine).
private func openError(_ chip: String) -> GPIOError? {
    do {
        _ = try GPIOOutputLine(chip: chip, line: 17, activeLow: true, consumer: "provisioner-tests")
        return nil
    } catch {
        return error
    }
}

@Suite("GPIOOutputLine (libgpiod)")
struct GPIOLineTests {
    @Test(arguments: ["gpiochip99", "/dev/gpiochip99", "no-such-label", "99"])
    func missingChipIsAClearError(_ chip: String) throws {
        let error = try #require(openError(chip))
        #expect(error.description == "gpio chip '\(chip)' cannot be opened: No such file or directory")
    }

    @Test func deviceThatIsNotAGPIOChipIsAClearError() throws {
        let error = try #require(openError("/dev/null"))
        #expect(error.description.hasPrefix("gpio chip '/dev/null' cannot be opened: "), "\(error)")
        #expect(!error.description.hasSuffix(": Success"), "\(error)")
    }
}
