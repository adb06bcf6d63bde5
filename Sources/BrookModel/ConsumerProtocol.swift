/// Kafka's "consumer" group protocol: the member metadata (Subscription) and the assignment that
/// JoinGroup and SyncGroup carry as opaque bytes. The coordinator never needs them to keep a
/// group, but describe (assignments, lag) and the built-in assignors read them, and Brook's
/// coordinator-assigned groups store theirs in this same format, so a group looks the same
/// whichever protocol its members speak.
///
/// The layout is Kafka's ConsumerProtocolSubscription and ConsumerProtocolAssignment: a big-endian
/// `int16` version, then the fields of that version, non-flexible (`int16`-counted strings,
/// `int32`-counted bytes and arrays, -1 for null). A version newer than this code knows is read
/// with the newest layout it knows, as Kafka does: later versions only append fields.
public enum ConsumerProtocol {
    /// The JoinGroup protocol type of consumers.
    public static let type = "consumer"
    /// The newest version this code writes and reads.
    public static let latestVersion: Int16 = 3

    /// What a member subscribes to.
    public struct Subscription: Sendable, Hashable {
        public var topics: [String]
        public var userData: [UInt8]?
        /// v1+: what the member owns now (cooperative rebalancing), grouped by topic on the wire.
        public var ownedPartitions: [TopicPartition]
        /// v2+: the generation in which it owned them; -1 when unknown.
        public var generationID: Int32
        /// v3+: the member's rack.
        public var rackID: String?

        public init(topics: [String], userData: [UInt8]? = nil, ownedPartitions: [TopicPartition] = [], generationID: Int32 = -1, rackID: String? = nil) {
            self.topics = topics
            self.userData = userData
            self.ownedPartitions = ownedPartitions
            self.generationID = generationID
            self.rackID = rackID
        }

        /// The bytes of this subscription in `version` (fields the version lacks are left out).
        public func encoded(version: Int16 = ConsumerProtocol.latestVersion) -> [UInt8] {
            var writer = Writer(version: version)
            writer.array(topics) { $0.string($1) }
            writer.bytes(userData)
            if version >= 1 { writer.partitions(ownedPartitions) }
            if version >= 2 { writer.int32(generationID) }
            if version >= 3 { writer.nullableString(rackID) }
            return writer.buffer
        }

        /// Reads a subscription.
        /// - Throws: `INVALID_REQUEST` naming what is malformed.
        public init(decoding bytes: [UInt8]) throws(BrookError) {
            var reader = Reader(bytes, what: "consumer protocol subscription")
            let version = try reader.version()
            topics = try reader.array { reader throws(BrookError) in try reader.string() }
            userData = try reader.nullableBytes()
            ownedPartitions = version >= 1 ? try reader.partitions() : []
            generationID = version >= 2 ? try reader.int32() : -1
            rackID = version >= 3 ? try reader.nullableString() : nil
        }
    }

    /// The partitions a member is given.
    public struct Assignment: Sendable, Hashable {
        /// Grouped by topic on the wire.
        public var partitions: [TopicPartition]
        public var userData: [UInt8]?

        public init(partitions: [TopicPartition], userData: [UInt8]? = nil) {
            self.partitions = partitions
            self.userData = userData
        }

        /// The bytes of this assignment in `version` (every version has the same fields).
        public func encoded(version: Int16 = ConsumerProtocol.latestVersion) -> [UInt8] {
            var writer = Writer(version: version)
            writer.partitions(partitions)
            writer.bytes(userData)
            return writer.buffer
        }

        /// Reads an assignment. Empty bytes are the empty assignment, as Kafka's clients read a
        /// member the leader left out.
        /// - Throws: `INVALID_REQUEST` naming what is malformed.
        public init(decoding bytes: [UInt8]) throws(BrookError) {
            guard !bytes.isEmpty else {
                self.init(partitions: [])
                return
            }
            var reader = Reader(bytes, what: "consumer protocol assignment")
            _ = try reader.version()
            self.init(partitions: try reader.partitions(), userData: try reader.nullableBytes())
        }
    }

    struct Writer {
        var buffer: [UInt8] = []

        init(version: Int16) { int16(version) }

        mutating func int16(_ value: Int16) {
            buffer.append(UInt8(truncatingIfNeeded: value >> 8))
            buffer.append(UInt8(truncatingIfNeeded: value))
        }

        mutating func int32(_ value: Int32) {
            for shift in stride(from: 24, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: value >> Int32(shift))) }
        }

        mutating func string(_ value: String) {
            int16(Int16(truncatingIfNeeded: value.utf8.count))
            buffer.append(contentsOf: value.utf8)
        }

        mutating func nullableString(_ value: String?) {
            guard let value else { return int16(-1) }
            string(value)
        }

        mutating func bytes(_ value: [UInt8]?) {
            guard let value else { return int32(-1) }
            int32(Int32(truncatingIfNeeded: value.count))
            buffer.append(contentsOf: value)
        }

        mutating func array<T>(_ values: [T], _ element: (inout Writer, T) -> Void) {
            int32(Int32(truncatingIfNeeded: values.count))
            for value in values { element(&self, value) }
        }

        /// `[]TopicPartition`: one entry per topic, in the order topics first appear.
        mutating func partitions(_ partitions: [TopicPartition]) {
            var topics: [String] = []
            var byTopic: [String: [Int]] = [:]
            for tp in partitions {
                if byTopic[tp.topic] == nil { topics.append(tp.topic) }
                byTopic[tp.topic, default: []].append(tp.partition)
            }
            array(topics) { writer, topic in
                writer.string(topic)
                writer.array(byTopic[topic]!) { $0.int32(Int32(truncatingIfNeeded: $1)) }
            }
        }
    }

    struct Reader {
        let data: [UInt8]
        var index = 0
        let what: String

        init(_ data: [UInt8], what: String) {
            self.data = data
            self.what = what
        }

        func malformed(_ detail: String) -> BrookError {
            BrookError(.invalidRequest, "\(what) of \(data.count) bytes is malformed: \(detail) at byte \(index)")
        }

        mutating func take(_ count: Int) throws(BrookError) -> ArraySlice<UInt8> {
            guard count >= 0, data.count - index >= count else { throw malformed("needs \(count) more bytes") }
            defer { index += count }
            return data[index..<(index + count)]
        }

        mutating func int16() throws(BrookError) -> Int16 {
            let slice = try take(2)
            return Int16(bitPattern: UInt16(slice[slice.startIndex]) << 8 | UInt16(slice[slice.startIndex + 1]))
        }

        mutating func int32() throws(BrookError) -> Int32 {
            var value: UInt32 = 0
            for byte in try take(4) { value = value << 8 | UInt32(byte) }
            return Int32(bitPattern: value)
        }

        mutating func version() throws(BrookError) -> Int16 {
            let version = try int16()
            guard version >= 0 else { throw malformed("version \(version) is negative") }
            return version
        }

        mutating func nullableString() throws(BrookError) -> String? {
            let length = try int16()
            if length == -1 { return nil }
            guard length >= 0 else { throw malformed("string length \(length)") }
            return String(decoding: try take(Int(length)), as: UTF8.self)
        }

        mutating func string() throws(BrookError) -> String {
            guard let value = try nullableString() else { throw malformed("a null string where one is required") }
            return value
        }

        mutating func nullableBytes() throws(BrookError) -> [UInt8]? {
            let length = try int32()
            if length == -1 { return nil }
            guard length >= 0 else { throw malformed("bytes length \(length)") }
            return Array(try take(Int(length)))
        }

        mutating func array<T>(_ element: (inout Reader) throws(BrookError) -> T) throws(BrookError) -> [T] {
            let count = try int32()
            guard count >= 0 else { throw malformed("array length \(count)") }
            // Each element takes at least one byte: a count beyond the rest is malformed, not a
            // reason to reserve memory.
            guard Int(count) <= data.count - index else { throw malformed("array of \(count) elements") }
            var values: [T] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<count { values.append(try element(&self)) }
            return values
        }

        mutating func partitions() throws(BrookError) -> [TopicPartition] {
            let topics = try array { reader throws(BrookError) -> [TopicPartition] in
                let topic = try reader.string()
                return try reader.array { reader throws(BrookError) in
                    let partition = try reader.int32()
                    guard partition >= 0 else { throw reader.malformed("partition \(partition)") }
                    return TopicPartition(topic, Int(partition))
                }
            }
            return topics.flatMap { $0 }
        }
    }
}
