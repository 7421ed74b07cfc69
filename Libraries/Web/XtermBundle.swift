import Foundation

/// xterm.js for the console page, from Debian (never a CDN). Debian 12's
/// `libjs-xterm` ships no browser build (its xterm.js is a 288-byte stub
/// that `require`s modules a browser cannot load), so the page is served
/// `node-xterm`'s CommonJS modules joined into one script with a small
/// `require` of their own: read once, kept.
enum XtermBundle {
    static let folder = "/usr/share/nodejs/xterm/lib"
    static let stylesheet = "/usr/share/javascript/xterm/xterm.css"

    /// The bundle, or nil when node-xterm is not installed.
    static let script: [UInt8]? = {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return nil }
        var modules = ""
        for case let path as String in walker where path.hasSuffix(".js") && !path.hasSuffix(".test.js") {
            guard let source = try? String(contentsOfFile: folder + "/" + path, encoding: .utf8) else { continue }
            let name = String(path.dropLast(3))
            modules += "m[\(quoted(name))] = function (require, module, exports) {\n\(source)\n};\n"
        }
        guard modules.contains("m[\"public/Terminal\"]") else { return nil }
        let script = """
            // xterm.js \(version) from Debian's node-xterm, joined for the browser by Provisioner.
            (function () {
            var m = {}, cache = {};
            \(modules)
            function resolve(from, name) {
              var parts = from.split("/"); parts.pop();
              name.split("/").forEach(function (part) {
                if (part === "..") parts.pop(); else if (part !== ".") parts.push(part);
              });
              return parts.join("/");
            }
            function load(name) {
              if (cache[name]) return cache[name].exports;
              var module = { exports: {} };
              cache[name] = module;
              m[name](function (other) { return load(resolve(name, other)); }, module, module.exports);
              return module.exports;
            }
            window.Terminal = load("public/Terminal").Terminal;
            })();

            """
        return Array(script.utf8)
    }()

    static let css: [UInt8]? = FileManager.default.contents(atPath: stylesheet).map { Array($0) }

    static var version: String {
        guard let text = try? String(contentsOfFile: "/usr/share/nodejs/xterm/package.json", encoding: .utf8),
              let key = text.firstRange(of: "\"version\": \"") else { return "?" }
        return String(text[key.upperBound...].prefix { $0 != "\"" })
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
