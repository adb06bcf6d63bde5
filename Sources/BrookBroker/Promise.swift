import Synchronization

/// A result that arrives later: the writer completes it on its thread; any number of tasks
/// await it.
final class Promise<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Error>])
        case done(Result<Value, Error>)
    }

    private let state = Mutex(State.waiting([]))

    func complete(_ result: Result<Value, Error>) {
        let continuations = state.withLock { state -> [CheckedContinuation<Value, Error>] in
            guard case .waiting(let continuations) = state else { return [] }
            state = .done(result)
            return continuations
        }
        for continuation in continuations { continuation.resume(with: result) }
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let result = state.withLock { state -> Result<Value, Error>? in
                    switch state {
                    case .done(let result):
                        return result
                    case .waiting(var continuations):
                        continuations.append(continuation)
                        state = .waiting(continuations)
                        return nil
                    }
                }
                if let result { continuation.resume(with: result) }
            }
        }
    }
}

/// A produce request the writer has accepted, in order; await ``positions()`` for the offsets.
public struct ProduceTicket: Sendable {
    let promise: Promise<[RecordPosition]>

    /// Each record's partition and offset, once the batch is committed (offsets -1 for acks=0).
    public func positions() async throws -> [RecordPosition] {
        try await promise.value
    }
}
