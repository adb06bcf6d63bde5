/// An idempotent producer as the broker issued it.
public struct ProducerIdentity: Hashable, Sendable {
    public var id: Int64
    public var epoch: Int32

    public init(id: Int64, epoch: Int32) {
        self.id = id
        self.epoch = epoch
    }
}

