import Foundation
import HTTPDaemon
import Jobs
import Testing

/// The flasher's side of a job: the manifest behind an unguessable URL, and
/// events handed to the job that waits for them.
struct JobAPITests {
    func respond(_ api: JobAPI, _ method: String, _ path: String, body: String? = nil) -> HTTPResponse {
        switch api.handle(HTTPRequest(method: method, target: path)) {
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

    @Test func theManifestIsServedOnlyUnderItsFullID() {
        let api = JobAPI()
        let id = api.register(manifest: Array(#"{"images":[]}"#.utf8))
        #expect(id.split(separator: "-").last?.count == 32, "\(id)")
        let ok = respond(api, "GET", JobAPI.prefix + id)
        #expect(ok.status == 200)
        #expect(text(ok) == #"{"images":[]}"#)
        #expect(api.wasFetched(id))
        let number = String(id.split(separator: "-")[0])
        #expect(respond(api, "GET", JobAPI.prefix + number).status == 403)
        #expect(respond(api, "GET", JobAPI.prefix + number + "-" + String(repeating: "0", count: 32)).status == 403)
        #expect(respond(api, "POST", JobAPI.prefix + number + "-x/events", body: "{}").status == 403)
        api.remove(id)
        #expect(respond(api, "GET", JobAPI.prefix + id).status == 403, "an ended job's URL is dead")
    }

    @Test func eventsReachTheJobInOrderAndBadOnesAreRefused() {
        let api = JobAPI()
        let id = api.register(manifest: [])
        #expect(respond(api, "POST", JobAPI.prefix + id + "/events", body: #"{"event":"progress","done":1}"#).status == 204)
        #expect(respond(api, "POST", JobAPI.prefix + id + "/events", body: #"{"event":"success"}"#).status == 204)
        #expect(respond(api, "POST", JobAPI.prefix + id + "/events", body: "not json").status == 400)
        #expect(respond(api, "POST", JobAPI.prefix + id + "/events", body: "[1,2]").status == 400)
        let big = "{\"x\":\"" + String(repeating: "a", count: 70_000) + "\"}"
        #expect(respond(api, "POST", JobAPI.prefix + id + "/events", body: big).status == 413)
        #expect(api.nextEvent(of: id, timeout: 1)?.type == "progress")
        #expect(api.nextEvent(of: id, timeout: 1)?.type == "success")
        #expect(api.nextEvent(of: id, timeout: 0.1) == nil)
        #expect(respond(api, "DELETE", JobAPI.prefix + id).status == 405)
    }
}
