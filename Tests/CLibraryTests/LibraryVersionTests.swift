import Curl
import GPIO
import HTTPDaemon
import SSH
import Testing

@Suite("C library versions")
struct LibraryVersionTests {
    /// "MAJOR.MINOR…", as each library reports its own version.
    private func looksLikeAVersion(_ text: String) -> Bool {
        text.prefixMatch(of: /[0-9]+\.[0-9]+/) != nil
    }

    @Test func versionsAreReported() {
        for (name, version) in [("libssh", libsshVersion), ("libgpiod", libgpiodVersion),
                                ("libmicrohttpd", libmicrohttpdVersion), ("libcurl", libcurlVersion)] {
            #expect(looksLikeAVersion(version), "\(name) version '\(version)'")
        }
    }

    @Test func libgpiodIsTheV1API() {
        #expect(libgpiodVersion.hasPrefix("1."), "the GPIO wrapper is written for libgpiod 1.x, found \(libgpiodVersion)")
    }
}
