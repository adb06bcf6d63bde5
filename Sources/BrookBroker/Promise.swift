import Synchronization

/// A result that arrives later, awaited at most once: the writer completes it on its thread; the
/// requester awaits it from a task.
final class Promise<Value: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Value, Error>?)
        case done(Result<Value, Error>)
    }

    private let state = Mutex(State.waiting(nil))

    func complete(_ result: Result<Value, Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<Value, Error>? in
            guard case .waiting(let continuation) = state else { return nil }
            state = .done(result)
            return continuation
        }
        continuation?.resume(with: result)
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let result = state.withLock { state -> Result<Value, Error>? in
                    switch state {
                    case .done(let result):
                        return result
                    case .waiting:
                        state = .waiting(continuation)
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
