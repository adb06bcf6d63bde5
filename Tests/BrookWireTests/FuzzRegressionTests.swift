import BrookModel
import BrookWire
import Foundation
import NIOCore
import Testing

/// Inputs the fuzzer (Fuzz/run.sh) found, kept as tests.
struct FuzzRegressionTests {
    /// "JOIN tug ," parsed into a subscription to no topic, which could not be encoded back.
    @Test(arguments: [
        "Sk9JTiB0dWcgLCANCmFiYw0NCg0KQ0+4TUlUIGcgbSAxIHQ6MDo1IG1ldGFkYXRhPTINCm9rDQo=",
    ])
    func parsedRequestsEncodeBackToThemselves(_ base64: String) throws {
        var input = ByteBuffer(bytes: try #require(Data(base64Encoded: base64)))
        var decoder = FrameDecoder(limits: WireLimits(maxLine: 512, maxRecordBytes: 4_096, maxRequestBytes: 8_192, maxBatchRecords: 64))
        while let event = decoder.next(&input) {
            guard case .frame(let frame) = event, let request = try? Request.parse(frame) else { continue }
            var encoded = ByteBuffer()
            request.encode(into: &encoded)
            var again = FrameDecoder()
            guard case .frame(let reparsed)? = again.next(&encoded) else {
                Issue.record("\(request) did not encode to a frame")
                continue
            }
            #expect(try Request.parse(reparsed) == request)
        }
    }

    @Test func joinWithoutTopicsOrStrategiesIsRefused() {
        for line in ["JOIN g ,", "JOIN g t strategies=,"] {
            var input = ByteBuffer(string: line + "\r\n")
            var decoder = FrameDecoder()
            guard case .frame(let frame)? = decoder.next(&input) else { Issue.record("no frame"); continue }
            #expect(throws: BrookError.self) { try Request.parse(frame) }
        }
    }
}
