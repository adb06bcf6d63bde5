import BrookModel
import Testing

/// Expects `body` to throw a ``BrookError`` with `code` (and a message containing `containing`).
public func expectBrookError<T>(
    _ code: BrookError.Code, containing text: String = "", sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) {
    do {
        _ = try body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as BrookError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(text.isEmpty || error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected BrookError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects the async `body` to throw a ``BrookError`` with `code` (and a message containing `containing`).
public func expectBrookError<T>(
    _ code: BrookError.Code, containing text: String = "", sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async {
    do {
        _ = try await body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as BrookError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(text.isEmpty || error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected BrookError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
