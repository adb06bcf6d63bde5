import BrookModel
import BrookTestSupport
import Testing

struct ConsumerProtocolTests {
    static let owned = [TopicPartition("orders", 0), TopicPartition("orders", 3), TopicPartition("audit", 1)]

    @Test(arguments: Int16(0)...3)
    func aSubscriptionRoundTripsTheFieldsOfItsVersion(_ version: Int16) throws {
        let subscription = ConsumerProtocol.Subscription(
            topics: ["orders", "audit"], userData: [0, 1, 0xFF], ownedPartitions: Self.owned, generationID: 7, rackID: "rack-a")
        let decoded = try ConsumerProtocol.Subscription(decoding: subscription.encoded(version: version))
        #expect(decoded.topics == ["orders", "audit"])
        #expect(decoded.userData == [0, 1, 0xFF])
        #expect(decoded.ownedPartitions == (version >= 1 ? Self.owned : []))
        #expect(decoded.generationID == (version >= 2 ? 7 : -1))
        #expect(decoded.rackID == (version >= 3 ? "rack-a" : nil))
    }

    @Test(arguments: Int16(0)...3)
    func anAssignmentRoundTrips(_ version: Int16) throws {
        let assignment = ConsumerProtocol.Assignment(partitions: Self.owned, userData: nil)
        let decoded = try ConsumerProtocol.Assignment(decoding: assignment.encoded(version: version))
        #expect(decoded == assignment)
        let withData = ConsumerProtocol.Assignment(partitions: [], userData: [])
        #expect(try ConsumerProtocol.Assignment(decoding: withData.encoded(version: version)) == withData)
    }

    @Test func aSubscriptionHasKafkasBytes() throws {
        // v1: topics ["t"], null user data, owned t:0 and t:2.
        let bytes: [UInt8] = [
            0, 1,  // version
            0, 0, 0, 1, 0, 1, 0x74,  // topics: ["t"]
            0xFF, 0xFF, 0xFF, 0xFF,  // user data: null
            0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2,  // owned: t [0, 2]
        ]
        let subscription = ConsumerProtocol.Subscription(topics: ["t"], ownedPartitions: [TopicPartition("t", 0), TopicPartition("t", 2)])
        #expect(subscription.encoded(version: 1) == bytes)
        #expect(try ConsumerProtocol.Subscription(decoding: bytes) == subscription)
    }

    @Test func anAssignmentHasKafkasBytes() throws {
        // v3: t:1, user data [0xAB].
        let bytes: [UInt8] = [0, 3, 0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xAB]
        let assignment = ConsumerProtocol.Assignment(partitions: [TopicPartition("t", 1)], userData: [0xAB])
        #expect(assignment.encoded() == bytes)
        #expect(try ConsumerProtocol.Assignment(decoding: bytes) == assignment)
    }

    @Test func aNewerVersionIsReadWithTheNewestLayoutKnown() throws {
        var bytes = ConsumerProtocol.Subscription(topics: ["t"], generationID: 3, rackID: "r").encoded(version: 3)
        bytes[1] = 9
        bytes += [1, 2, 3]  // a field of version 9
        let decoded = try ConsumerProtocol.Subscription(decoding: bytes)
        #expect(decoded.topics == ["t"] && decoded.generationID == 3 && decoded.rackID == "r")
    }

    @Test func emptyAssignmentBytesAreTheEmptyAssignment() throws {
        #expect(try ConsumerProtocol.Assignment(decoding: []).partitions.isEmpty)
    }

    @Test(arguments: [
        [UInt8](), [0], [0xFF, 0xFF, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0, 5, 0x74], [0, 0, 0x7F, 0xFF, 0xFF, 0xFF],
    ])
    func malformedSubscriptionsAreInvalidRequests(_ bytes: [UInt8]) {
        expectBrookError(.invalidRequest) { try ConsumerProtocol.Subscription(decoding: bytes) }
    }
}
