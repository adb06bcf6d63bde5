import BrookModel
import Synchronization

/// A value delivered once, to any number of awaiters and callbacks.
final class Promise<Value: Sendable>: Sendable {
    private enum Waiter {
        case task(CheckedContinuation<Value, Error>)
        case callback(@Sendable (Result<Value, Error>) -> Void)

        func resume(with result: Result<Value, Error>) {
            switch self {
            case .task(let continuation): continuation.resume(with: result)
            case .callback(let callback): callback(result)
            }
        }
    }

    private enum State {
        case waiting([Waiter])
        case done(Result<Value, Error>)
    }

    private let state = Mutex(State.waiting([]))

    func complete(_ result: Result<Value, Error>) {
        let waiters = state.withLock { state -> [Waiter] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Adds a waiter, or returns the result when it is already there.
    private func wait(_ waiter: Waiter) -> Result<Value, Error>? {
        state.withLock { state -> Result<Value, Error>? in
            switch state {
            case .done(let result):
                return result
            case .waiting(var waiters):
                waiters.append(waiter)
                state = .waiting(waiters)
                return nil
            }
        }
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                if let result = wait(.task(continuation)) { continuation.resume(with: result) }
            }
        }
    }

    /// Calls `callback` once with the result: at once if it is there, else on the completing thread.
    func whenComplete(_ callback: @escaping @Sendable (Result<Value, Error>) -> Void) {
        if let result = wait(.callback(callback)) { callback(result) }
    }
}

/// A produce request the writer has accepted, in order; await ``positions()`` for the offsets.
public struct ProduceTicket: Sendable {
    let promise: Promise<[RecordPosition]>

    /// Each record's partition and offset, once the batch is committed (offsets -1 for acks=0).
    public func positions() async throws -> [RecordPosition] {
        try await promise.value
    }

    /// Calls `callback` once the batch is committed or refused — on the writer's thread, or at
    /// once if that has happened — so a front-end can answer without a task of its own. The
    /// callback must not block.
    public func whenComplete(_ callback: @escaping @Sendable (Result<[RecordPosition], Error>) -> Void) {
        promise.whenComplete(callback)
    }
}
