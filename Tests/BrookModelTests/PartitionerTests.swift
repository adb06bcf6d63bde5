import BrookModel
import Testing

/// Expected values were computed independently with the murmur2 of the kafka-python package
/// (PyPI `kafka-python` 3.0.12, `kafka.partitioner.default.murmur2`), which returns the unsigned
/// 32-bit value; the signed column is that value as a Java int. The first six agree with
/// Kafka's own `UtilsTest.testMurmur2`.
struct PartitionerTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let key: [UInt8]
        let unsigned: UInt32
        let partitionOf12: Int
        var testDescription: String { String(decoding: key.prefix(20), as: UTF8.self) }
    }

    static let vectors: [Vector] = [
        Vector(key: [], unsigned: 275_646_681, partitionOf12: 9),
        Vector(key: Array("a".utf8), unsigned: 2_731_586_172, partitionOf12: 4),
        Vector(key: Array("ab".utf8), unsigned: 316_155_434, partitionOf12: 2),
        Vector(key: Array("abc".utf8), unsigned: 479_470_107, partitionOf12: 3),
        Vector(key: Array("21".utf8), unsigned: 3_321_034_988, partitionOf12: 0),
        Vector(key: Array("foobar".utf8), unsigned: 3_504_634_814, partitionOf12: 6),
        Vector(key: Array("a-little-bit-long-string".utf8), unsigned: 3_308_985_760, partitionOf12: 8),
        Vector(key: Array("a-little-bit-longer-string".utf8), unsigned: 2_808_662_467, partitionOf12: 11),
        Vector(key: Array("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8".utf8), unsigned: 4_236_069_325, partitionOf12: 5),
        Vector(key: Array("u1".utf8), unsigned: 745_337_584, partitionOf12: 4),
        Vector(key: Array("user-42".utf8), unsigned: 1_459_644_460, partitionOf12: 4),
        Vector(key: Array(0...255), unsigned: 2_346_620_022, partitionOf12: 10),
        Vector(key: Array("été".utf8), unsigned: 2_193_773_721, partitionOf12: 1),
    ]

    @Test(arguments: vectors)
    func murmur2MatchesKafka(_ vector: Vector) {
        #expect(Partitioner.murmur2(vector.key) == Int32(bitPattern: vector.unsigned))
        #expect(Partitioner.partition(forKey: vector.key, partitionCount: 12) == vector.partitionOf12)
    }

    @Test func javaSignedValuesFromKafkaUtilsTest() {
        #expect(Partitioner.murmur2(Array("21".utf8)) == -973_932_308)
        #expect(Partitioner.murmur2(Array("foobar".utf8)) == -790_332_482)
        #expect(Partitioner.murmur2(Array("a-little-bit-long-string".utf8)) == -985_981_536)
        #expect(Partitioner.murmur2(Array("a-little-bit-longer-string".utf8)) == -1_486_304_829)
        #expect(Partitioner.murmur2(Array("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8".utf8)) == -58_897_971)
        #expect(Partitioner.murmur2(Array("abc".utf8)) == 479_470_107)
    }

    @Test func toPositiveClearsTheSignBitLikeKafka() {
        #expect(Partitioner.toPositive(Int32.min) == 0)
        #expect(Partitioner.toPositive(-1) == Int32.max)
        #expect(Partitioner.toPositive(42) == 42)
    }

    @Test func sameKeySamePartitionForAnyCount() {
        for count in 1...64 {
            let first = Partitioner.partition(forKey: Array("order-7".utf8), partitionCount: count)
            #expect((0..<count).contains(first))
            #expect(Partitioner.partition(forKey: Array("order-7".utf8), partitionCount: count) == first)
        }
    }
}
