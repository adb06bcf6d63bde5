/// Kafka's default partitioner, bit for bit, so a keyed record lands on the same partition index
/// as it would on Kafka with the same partition count.
public enum Partitioner {
    /// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed 0x9747b28c, as a signed Java int.
    public static func murmur2<Bytes: Collection<UInt8>>(_ data: Bytes) -> Int32 {
        let length = data.count
        let seed: UInt32 = 0x9747_B28C
        let m: UInt32 = 0x5BD1_E995
        let r: UInt32 = 24
        var h = seed ^ UInt32(truncatingIfNeeded: length)

        var iterator = data.makeIterator()
        for _ in 0..<(length / 4) {
            var k = UInt32(iterator.next()!)
            k |= UInt32(iterator.next()!) << 8
            k |= UInt32(iterator.next()!) << 16
            k |= UInt32(iterator.next()!) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = length % 4
        if tail > 0 {
            let b0 = UInt32(iterator.next()!)
            let b1 = tail > 1 ? UInt32(iterator.next()!) : 0
            let b2 = tail > 2 ? UInt32(iterator.next()!) : 0
            if tail == 3 { h ^= b2 << 16 }
            if tail >= 2 { h ^= b1 << 8 }
            h ^= b0
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on Int32.min).
    public static func toPositive(_ value: Int32) -> Int32 {
        value & 0x7FFF_FFFF
    }

    /// The partition Kafka's default partitioner picks for a keyed record.
    public static func partition<Bytes: Collection<UInt8>>(forKey key: Bytes, partitionCount: Int) -> Int {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return Int(toPositive(murmur2(key))) % partitionCount
    }
}
