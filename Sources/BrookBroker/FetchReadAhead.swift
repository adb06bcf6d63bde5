import Synchronization

/// One consumer's next chunk, read before it is asked for.
///
/// A client that keeps one fetch in flight (librdkafka does, per broker) waits for each reply
/// before asking for the next, so reading and encoding a chunk on the server and decoding the last
/// one on the client take turns. Given to ``Broker/startFetch(_:into:readAhead:executor:deliver:)``,
/// a fetch that answered records with more behind them starts reading the next chunk, from the
/// offsets just answered up to and with the same limits, on a reader thread; the next fetch for
/// exactly those offsets and limits takes it (waiting for the read if it is still under way)
/// instead of reading again. It is used only if each partition is still the one read and the
/// requested offset is still at or past its log-start offset (retention, DeleteRecords and a
/// topic's deletion discard it); its high watermark and log-start offset are the current ones.
/// Any other fetch discards it. It holds one chunk of at most ``maxBytes``.
public final class FetchReadAhead<Sink: FetchSink>: Sendable {
    /// The largest answer that starts a read-ahead: a fetch over many partitions may ask for tens
    /// of megabytes, which a connection should not hold in advance.
    public static var maxBytes: Int { 4 << 20 }

    /// What the prepared chunk answers: the partitions from their offsets, within these limits.
    struct Key: Hashable, Sendable {
        var partitions: [FetchRequest.Partition]
        var maxBytes: Int
        var maxRecords: Int

        init(_ request: FetchRequest) {
            partitions = request.partitions
            maxBytes = request.maxBytes
            maxRecords = request.maxRecords
        }
    }

    typealias Taker = @Sendable (FetchResponse<Sink>?) -> Void

    private enum Slot {
        case empty
        case reading(Key, token: UInt64, taker: Taker?)
        case ready(Key, FetchResponse<Sink>)

        /// The fetch waiting for the read under way, if any.
        var taker: Taker? {
            if case .reading(_, _, let taker) = self { taker } else { nil }
        }
    }

    private struct State {
        var slot = Slot.empty
        var nextToken: UInt64 = 0
        /// Fetches answered from a prepared chunk, for tests and benchmarks.
        var used = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many fetches were answered from a prepared chunk.
    public var usedCount: Int { state.withLock { $0.used } }

    /// A fetch took a prepared chunk's records.
    func noteUsed() {
        state.withLock { $0.used += 1 }
    }

    /// Whether a chunk is read and held for the next fetch.
    public var holdsChunk: Bool {
        state.withLock { if case .ready = $0.slot { true } else { false } }
    }

    /// Marks a read of `key` as under way, replacing whatever was held; returns its token.
    func begin(_ key: Key) -> UInt64 {
        let (token, displaced) = state.withLock { state in
            state.nextToken += 1
            let displaced = state.slot.taker
            state.slot = .reading(key, token: state.nextToken, taker: nil)
            return (state.nextToken, displaced)
        }
        // A fetch waiting for the read it replaces reads for itself.
        displaced?(nil)
        return token
    }

    /// The read under `token` is done: hands it to the fetch waiting for it, or holds it. A read
    /// that failed or found no record (`nil`, or empty) is dropped.
    func finish(_ token: UInt64, _ response: FetchResponse<Sink>?) {
        let response = response.flatMap { $0.recordCount > 0 ? $0 : nil }
        let taker = state.withLock { state -> Taker? in
            guard case .reading(let key, let current, let taker) = state.slot, current == token else { return nil }
            if let taker {
                state.slot = .empty
                return taker
            }
            state.slot = response.map { .ready(key, $0) } ?? .empty
            return nil
        }
        taker?(response)
    }

    /// Gives the chunk prepared for `key` to `take`, at once or when its read is done, and
    /// returns true; false (discarding what was held) when nothing was prepared for it.
    func take(_ key: Key, _ take: @escaping Taker) -> Bool {
        let (ready, displaced) = state.withLock { state -> (FetchResponse<Sink>??, Taker?) in
            switch state.slot {
            case .ready(let held, let response) where held == key:
                state.slot = .empty
                return (.some(response), nil)
            case .reading(let held, let token, nil) where held == key:
                state.slot = .reading(held, token: token, taker: take)
                return (.some(nil), nil)
            default:
                let displaced = state.slot.taker
                state.slot = .empty
                return (nil, displaced)
            }
        }
        displaced?(nil)
        switch ready {
        case .none: return false
        case .some(.none): return true
        case .some(.some(let response)):
            take(response)
            return true
        }
    }
}
