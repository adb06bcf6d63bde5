/// The SCRAM mechanisms Brook verifies, by their SASL names (RFC 5802, RFC 7677).
public enum ScramMechanism: String, CaseIterable, Sendable, Hashable, Comparable {
    case sha256 = "SCRAM-SHA-256"
    case sha512 = "SCRAM-SHA-512"

    /// The length of the hash, and so of every key the mechanism derives.
    public var keyByteCount: Int {
        switch self {
        case .sha256: 32
        case .sha512: 64
        }
    }

    public static func < (lhs: ScramMechanism, rhs: ScramMechanism) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What the server keeps of a password for one SCRAM mechanism: enough to verify a client's
/// proof, not enough to recover the password or to log in as the user with it.
public struct ScramCredential: Sendable, Hashable {
    /// Kafka's lower bound, and Brook's default.
    public static let minIterations = 4096
    /// An upper bound that keeps one authentication well under a second on a small machine.
    public static let maxIterations = 1_000_000

    public let mechanism: ScramMechanism
    public let salt: [UInt8]
    public let iterations: Int
    public let storedKey: [UInt8]
    public let serverKey: [UInt8]

    public init(mechanism: ScramMechanism, salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.mechanism = mechanism
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }
}

/// A user who may authenticate, with a verifier per SCRAM mechanism.
public struct BrookUser: Sendable, Hashable {
    public let name: String
    /// A super user passes every ACL check.
    public var isSuper: Bool
    /// One per mechanism, sorted by mechanism.
    public var credentials: [ScramCredential]
    public var createdMs: Int64
    public var updatedMs: Int64

    public init(name: String, isSuper: Bool, credentials: [ScramCredential], createdMs: Int64, updatedMs: Int64) {
        self.name = name
        self.isSuper = isSuper
        self.credentials = credentials.sorted { $0.mechanism < $1.mechanism }
        self.createdMs = createdMs
        self.updatedMs = updatedMs
    }

    public func credential(for mechanism: ScramMechanism) -> ScramCredential? {
        credentials.first { $0.mechanism == mechanism }
    }
}

/// User-name rules: 1 to 255 bytes of UTF-8 with no control characters and no space at either
/// end. Names are principals (`User:NAME` in ACLs), so they are compared exactly, case included.
public enum UserName {
    public static let maxBytes = 255

    public static func validate(_ name: String) throws(BrookError) {
        let bytes = name.utf8.count
        if bytes == 0 {
            throw BrookError(.invalidRequest, "user name is empty: use 1 to \(maxBytes) bytes of UTF-8 without control characters")
        }
        if bytes > maxBytes {
            throw BrookError(.invalidRequest, "user name of \(bytes) bytes exceeds the limit of \(maxBytes)")
        }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw BrookError(.invalidRequest, "user name contains a control character: use printable characters only")
        }
        if name.first == " " || name.last == " " {
            throw BrookError(.invalidRequest, "user name '\(name)' starts or ends with a space: remove it")
        }
    }
}

extension BrookError.Code {
    /// Authentication failed: unknown user, wrong password, or a malformed exchange. The message
    /// never says which of the first two it was.
    public static let saslAuthenticationFailed = BrookError.Code(rawValue: "SASL_AUTHENTICATION_FAILED")
    /// The request is not valid at this point of authentication, e.g. a command before AUTH on a
    /// server that requires it.
    public static let illegalSaslState = BrookError.Code(rawValue: "ILLEGAL_SASL_STATE")
    /// The client asked for a SASL mechanism the server does not offer.
    public static let unsupportedSaslMechanism = BrookError.Code(rawValue: "UNSUPPORTED_SASL_MECHANISM")
    /// The named user, ACL or other resource does not exist.
    public static let resourceNotFound = BrookError.Code(rawValue: "RESOURCE_NOT_FOUND")
    /// A user (or other resource) of that name exists already.
    public static let duplicateResource = BrookError.Code(rawValue: "DUPLICATE_RESOURCE")
}
