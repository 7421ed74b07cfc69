import Foundation
import HTTPDaemon
import Jobs
import SystemSupport
import Testing

/// The flasher's side of a job: the manifest behind an unguessable URL,
/// served once; events, which need the job's secret from the manifest,
/// handed to the job that waits for them.
struct JobAPITests {
    func respond(_ api: JobAPI, _ method: String, _ path: String, body: String? = nil, secret: String? = nil,
                 from client: String? = nil) -> HTTPResponse {
        let headers = secret.map { [(name: "Authorization", value: "Bearer " + $0)] } ?? []
        let address = client.flatMap { try? SocketAddress(host: $0, port: 40000) }
        switch api.handle(HTTPRequest(method: method, target: path, headers: headers, client: address)) {
        case .respond(let response):
            return response
        case .receive(let receiver):
            var response: HTTPResponse?
            Array((body ?? "").utf8).withUnsafeBytes { response = receiver.receive($0) }
            return response ?? receiver.finish()
        }
    }

    func text(_ response: HTTPResponse) -> String {
        if case .bytes(let bytes) = response.body { return String(decoding: bytes, as: UTF8.self) }
        return ""
    }

    @Test func theManifestIsServedOnlyUnderItsFullIDAndOnce() {
        let api = JobAPI()
        let id = api.register(manifest: Array(#"{"images":[]}"#.utf8), secret: "s3cret")
        #expect(id.split(separator: "-").last?.count == 32, "\(id)")
        let number = String(id.split(separator: "-")[0])
        #expect(respond(api, "GET", JobAPI.prefix + number).status == 403)
        #expect(respond(api, "GET", JobAPI.prefix + number + "-" + String(repeating: "0", count: 32)).status == 403)
        #expect(respond(api, "POST", JobAPI.prefix + number + "-x/events", body: "{}", secret: "s3cret").status == 403)
        #expect(!api.wasFetched(id))
        #expect(respond(api, "HEAD", JobAPI.prefix + id).status == 200, "HEAD reads nothing")
        let ok = respond(api, "GET", JobAPI.prefix + id)
        #expect(ok.status == 200)
        #expect(text(ok) == #"{"images":[]}"#)
        #expect(api.wasFetched(id))
        // Whoever read the URL on the console comes too late for the secret.
        let again = respond(api, "GET", JobAPI.prefix + id)
        #expect(again.status == 410 && text(again).contains("fetched already"), "\(text(again))")
        api.remove(id)
        #expect(respond(api, "GET", JobAPI.prefix + id).status == 403, "an ended job's URL is dead")
    }

    /// A board with an address of its own fetches its manifest itself; a
    /// virtual board's requests come from this host.
    @Test func onlyTheBoardOrThisHostFetchesTheManifest() {
        let api = JobAPI()
        let id = api.register(manifest: Array("{}".utf8), secret: "s", boardAddress: "192.168.5.10")
        #expect(respond(api, "GET", JobAPI.prefix + id, from: "192.168.5.11").status == 403)
        #expect(!api.wasFetched(id), "a refused fetch does not spend the manifest")
        #expect(respond(api, "GET", JobAPI.prefix + id, from: "192.168.5.10").status == 200)
        let virtual = api.register(manifest: Array("{}".utf8), secret: "s", boardAddress: "10.0.2.15")
        #expect(respond(api, "GET", JobAPI.prefix + virtual, from: "127.0.0.1").status == 200)
    }

    @Test func eventsNeedTheJobsSecret() {
        let api = JobAPI()
        let id = api.register(manifest: [], secret: "0123abcd")
        let events = JobAPI.prefix + id + "/events"
        for wrong in [nil, "", "0123abce", "0123abcd0", "0123abc"] as [String?] {
            let refused = respond(api, "POST", events, body: #"{"event":"success"}"#, secret: wrong)
            #expect(refused.status == 403 && text(refused).contains("the job's secret"), "\(wrong ?? "none"): \(text(refused))")
        }
        #expect(api.nextEvent(of: id, timeout: 0.1) == nil, "nothing reached the job")
        #expect(respond(api, "POST", events, body: #"{"event":"success"}"#, secret: "0123abcd").status == 204)
        #expect(api.nextEvent(of: id, timeout: 1)?.type == "success")
    }

    @Test func eventsReachTheJobInOrderAndBadOnesAreRefused() {
        let api = JobAPI()
        let id = api.register(manifest: [], secret: "k")
        let events = JobAPI.prefix + id + "/events"
        #expect(respond(api, "POST", events, body: #"{"event":"progress","done":1}"#, secret: "k").status == 204)
        #expect(respond(api, "POST", events, body: #"{"event":"success"}"#, secret: "k").status == 204)
        #expect(respond(api, "POST", events, body: "not json", secret: "k").status == 400)
        #expect(respond(api, "POST", events, body: "[1,2]", secret: "k").status == 400)
        let big = "{\"x\":\"" + String(repeating: "a", count: 70_000) + "\"}"
        #expect(respond(api, "POST", events, body: big, secret: "k").status == 413)
        #expect(api.nextEvent(of: id, timeout: 1)?.type == "progress")
        #expect(api.nextEvent(of: id, timeout: 1)?.type == "success")
        #expect(api.nextEvent(of: id, timeout: 0.1) == nil)
        #expect(respond(api, "DELETE", JobAPI.prefix + id).status == 405)
    }
}
