import BrookModel
import CLZ4
import CSnappy
import CZlib
import CZstd

/// Decompresses the records of a compressed batch: gzip, snappy (raw or xerial-framed), lz4
/// (frame format) and zstd, as Kafka's producers write them. Brook stores one row per record, so
/// every codec is decoded on produce.
enum RecordCompression {
    /// The most bytes one batch may decompress to; past it the batch is refused (a batch that
    /// inflates without bound would otherwise eat memory).
    static let maxDecompressedBytes = 64 * 1_048_576

    /// - Throws: `CORRUPT_MESSAGE` for data the codec cannot read, `RECORD_LIST_TOO_LARGE` past
    ///   ``maxDecompressedBytes``, `UNSUPPORTED_COMPRESSION_TYPE` for an unknown codec.
    static func decompress(_ codec: Int16, _ input: UnsafeRawBufferPointer, limit: Int = maxDecompressedBytes) throws(BrookError) -> [UInt8] {
        switch codec {
        case 1: return try gunzip(input, limit: limit)
        case 2: return try unsnappy(input, limit: limit)
        case 3: return try unlz4(input, limit: limit)
        case 4: return try unzstd(input, limit: limit)
        default:
            throw BrookError(.unsupportedCompressionType, "record batch compression codec \(codec) is unknown: use none, gzip, snappy, lz4 or zstd")
        }
    }

    private static func corrupt(_ codec: String, _ detail: String) -> BrookError {
        BrookError(.corruptMessage, "record batch's \(codec) data cannot be decompressed: \(detail)")
    }

    private static func tooLarge(_ limit: Int) -> BrookError {
        BrookError(.recordListTooLarge, "record batch decompresses to more than \(limit) bytes")
    }

    private static func gunzip(_ input: UnsafeRawBufferPointer, limit: Int) throws(BrookError) -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: a gzip or zlib header, detected.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw corrupt("gzip", "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: max(4_096, min(limit, input.count * 4)))
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        while true {
            let status: Int32 = chunk.withUnsafeMutableBytes { buffer in
                stream.next_out = buffer.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(buffer.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            output.append(contentsOf: chunk[..<produced])
            if output.count > limit { throw tooLarge(limit) }
            if status == Z_STREAM_END {
                // Concatenated gzip members: go on with the next one.
                if stream.avail_in > 0 {
                    guard inflateReset(&stream) == Z_OK else { throw corrupt("gzip", "inflateReset failed") }
                    continue
                }
                return output
            }
            guard status == Z_OK || (status == Z_BUF_ERROR && stream.avail_in > 0 && produced > 0) else {
                throw corrupt("gzip", status == Z_BUF_ERROR ? "the data ends early" : "zlib status \(status)")
            }
        }
    }

    /// xerial's framing (Java's snappy-java): a magic header, then [int32 length, raw block]…
    private static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]

    private static func unsnappy(_ input: UnsafeRawBufferPointer, limit: Int) throws(BrookError) -> [UInt8] {
        if input.count >= 16, Array(input[0..<8]) == xerialMagic {
            var output: [UInt8] = []
            var index = 16
            while index < input.count {
                guard input.count - index >= 4 else { throw corrupt("snappy", "a xerial block header is cut short") }
                let length = Int(input[index]) << 24 | Int(input[index + 1]) << 16 | Int(input[index + 2]) << 8 | Int(input[index + 3])
                index += 4
                guard length <= input.count - index else { throw corrupt("snappy", "a xerial block of \(length) bytes runs past the data") }
                output += try rawSnappy(UnsafeRawBufferPointer(rebasing: input[index..<(index + length)]), limit: limit - output.count)
                index += length
            }
            return output
        }
        return try rawSnappy(input, limit: limit)
    }

    private static func rawSnappy(_ input: UnsafeRawBufferPointer, limit: Int) throws(BrookError) -> [UInt8] {
        let base = input.bindMemory(to: CChar.self).baseAddress
        var length = 0
        guard snappy_uncompressed_length(base, input.count, &length) == SNAPPY_OK else {
            throw corrupt("snappy", "no valid length")
        }
        if length > limit { throw tooLarge(limit) }
        var output = [UInt8](repeating: 0, count: length)
        let status = output.withUnsafeMutableBytes { buffer in
            snappy_uncompress(base, input.count, buffer.bindMemory(to: CChar.self).baseAddress, &length)
        }
        guard status == SNAPPY_OK else { throw corrupt("snappy", "status \(status.rawValue)") }
        return Array(output[..<length])
    }

    private static func unlz4(_ input: UnsafeRawBufferPointer, limit: Int) throws(BrookError) -> [UInt8] {
        var context: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            throw corrupt("lz4", "no decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1_024)
        var offset = 0
        while offset < input.count {
            var sourceSize = input.count - offset
            var destinationSize = chunk.count
            let hint = chunk.withUnsafeMutableBytes { buffer in
                LZ4F_decompress(context, buffer.baseAddress, &destinationSize, input.baseAddress! + offset, &sourceSize, nil)
            }
            if LZ4F_isError(hint) != 0 {
                throw corrupt("lz4", String(cString: LZ4F_getErrorName(hint)))
            }
            offset += sourceSize
            output.append(contentsOf: chunk[..<destinationSize])
            if output.count > limit { throw tooLarge(limit) }
            if hint == 0 { break }  // the frame is complete
            if sourceSize == 0 && destinationSize == 0 { throw corrupt("lz4", "the frame ends early") }
        }
        return output
    }

    private static func unzstd(_ input: UnsafeRawBufferPointer, limit: Int) throws(BrookError) -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw corrupt("zstd", "no decompression stream") }
        defer { ZSTD_freeDStream(stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var last = 0
        while inBuffer.pos < inBuffer.size {
            let (result, produced) = chunk.withUnsafeMutableBytes { buffer in
                var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                return (result, outBuffer.pos)
            }
            if ZSTD_isError(result) != 0 { throw corrupt("zstd", String(cString: ZSTD_getErrorName(result))) }
            output.append(contentsOf: chunk[..<produced])
            if output.count > limit { throw tooLarge(limit) }
            last = result
            if result != 0 && produced == 0 && inBuffer.pos == inBuffer.size { break }
        }
        guard last == 0 else { throw corrupt("zstd", "the frame ends early") }
        return output
    }

    // MARK: Compressing, for fetches of a topic with a compression.type

    /// Compresses a batch's records with `codec` (1 gzip, 2 snappy, 3 lz4, 4 zstd) as Kafka's own
    /// producers write them: gzip at zlib's default level, snappy in xerial's framing (32 KiB
    /// blocks), lz4 frames with independent blocks, zstd at level 3.
    /// - Returns: nil when the codec fails (no memory): the caller serves the records uncompressed.
    static func compress(_ codec: Int16, _ input: UnsafeRawBufferPointer) -> [UInt8]? {
        switch codec {
        case 1: gzip(input)
        case 2: snappy(input)
        case 3: lz4(input)
        case 4: zstd(input)
        default: nil
        }
    }

    private static func gzip(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        var stream = z_stream()
        // 15 + 16: a gzip header and trailer.
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        let status = output.withUnsafeMutableBytes { buffer in
            stream.next_out = buffer.bindMemory(to: Bytef.self).baseAddress
            stream.avail_out = uInt(buffer.count)
            return deflate(&stream, Z_FINISH)
        }
        guard status == Z_STREAM_END else { return nil }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }

    /// xerial's framing, which Java's producer writes and every client reads.
    private static func snappy(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        let block = 32 * 1_024
        var output: [UInt8] = xerialMagic + [0, 0, 0, 1, 0, 0, 0, 1]  // version 1, compatible 1
        output.reserveCapacity(output.count + snappy_max_compressed_length(input.count) + 4 * (input.count / block + 1))
        var chunk = [UInt8](repeating: 0, count: snappy_max_compressed_length(block))
        var offset = 0
        while offset < input.count {
            let length = min(block, input.count - offset)
            var compressedLength = chunk.count
            let status = chunk.withUnsafeMutableBytes { buffer in
                snappy_compress(
                    (input.baseAddress! + offset).assumingMemoryBound(to: CChar.self), length,
                    buffer.baseAddress!.assumingMemoryBound(to: CChar.self), &compressedLength)
            }
            guard status == SNAPPY_OK else { return nil }
            let size = UInt32(compressedLength)
            output += [UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16), UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
            output.append(contentsOf: chunk[..<compressedLength])
            offset += length
        }
        return output
    }

    /// Independent blocks of 64 KiB, no content checksum: what Kafka's Java producer writes.
    private static func lz4(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        var output = [UInt8](repeating: 0, count: LZ4F_compressFrameBound(input.count, &preferences))
        let size = output.withUnsafeMutableBytes { buffer in
            LZ4F_compressFrame(buffer.baseAddress, buffer.count, input.baseAddress, input.count, &preferences)
        }
        guard LZ4F_isError(size) == 0 else { return nil }
        output.removeLast(output.count - size)
        return output
    }

    private static func zstd(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let size = output.withUnsafeMutableBytes { buffer in
            ZSTD_compress(buffer.baseAddress, buffer.count, input.baseAddress, input.count, 3)
        }
        guard ZSTD_isError(size) == 0 else { return nil }
        output.removeLast(output.count - size)
        return output
    }
}
