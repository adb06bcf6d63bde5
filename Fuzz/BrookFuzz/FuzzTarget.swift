import BrookKafka
import BrookModel
import BrookWire
import NIOCore

/// libFuzzer's entry: any bytes, as a client could send them, through the frame decoder (with small
/// limits, so the limits are exercised too), the request parser and the parsers of record and reply
/// blocks; and the same bytes through Kafka's request decoder and record batch codec. Errors are
/// expected; a crash, a trap or a hang is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var limits = WireLimits(maxLine: 512, maxRecordBytes: 4_096, maxRequestBytes: 8_192, maxBatchRecords: 64)
    limits.maxConnections = 1
    // Split in two at a byte chosen by the input, as TCP may deliver it.
    let split = size == 0 ? 0 : Int(bytes[0]) % (size + 1)
    var decoder = FrameDecoder(limits: limits)
    var buffer = ByteBuffer()
    for range in [0..<split, split..<size] {
        buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range])))
        while let event = decoder.next(&buffer) {
            guard case .frame(let frame) = event else { continue }
            _ = try? Request.parse(frame, limits: limits)
            _ = try? Reply.blockFrames(frame)
            _ = try? Reply.fetched(frame)
            _ = try? Reply.polled(frame)
            _ = try? Reply.topics(frame)
            _ = try? Reply.rows(frame)
            _ = try? Reply.joined(frame)
            _ = try? Reply.group(frame)
            _ = try? Reply.positions(frame)
            if let block = frame.items.last {
                try? RecordFrames.read(block, maxItemBytes: 4_096) { _ = try? RecordFrames.producerRecord($0) }
            }
            if let request = try? Request.parse(frame, limits: limits) {
                // What parses must encode and parse back to the same request.
                var encoded = ByteBuffer()
                request.encode(into: &encoded)
                var again = FrameDecoder(limits: WireLimits())
                if case .frame(let reparsed)? = again.next(&encoded), (try? request.checkEncodable()) != nil {
                    precondition((try? Request.parse(reparsed)) == request, "round trip changed \(request)")
                }
            }
        }
    }
    var kafka = ByteBuffer()
    for range in [0..<split, split..<size] {
        kafka.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range])))
        KafkaDecoding.decodeAll(&kafka, maxRequestBytes: 8_192, maxDecompressedBytes: 65_536)
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM names an executable's entry point `<target>_main`; it hands over to libFuzzer's driver.
@_cdecl("BrookFuzz_main")
public func brookFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzz(data, size) }
}
