import BrookModel
import Crypto
import _CryptoExtras

/// The key derivations of SCRAM (RFC 5802 §3) for one mechanism's hash.
enum ScramKeys {
    static func saltedPassword(_ password: [UInt8], salt: [UInt8], iterations: Int, _ mechanism: ScramMechanism) -> [UInt8] {
        // SCRAM's Hi() is PBKDF2 with HMAC and one output block. SCRAM fixes the round count by
        // the stored iteration count (4096 at least), below the 210,000 that PBKDF2's checked
        // entry point insists on for password hashing in general.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(
            from: password, salt: salt, using: mechanism == .sha256 ? .sha256 : .sha512,
            outputByteCount: mechanism.keyByteCount, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }

    static func hmac(_ key: [UInt8], _ message: [UInt8], _ mechanism: ScramMechanism) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch mechanism {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }

    static func hash(_ message: [UInt8], _ mechanism: ScramMechanism) -> [UInt8] {
        switch mechanism {
        case .sha256: return Array(SHA256.hash(data: message))
        case .sha512: return Array(SHA512.hash(data: message))
        }
    }

    static func xor(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        zip(a, b).map { $0 ^ $1 }
    }

    /// Compares in time that depends on the lengths only, never on where the bytes differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

extension ScramCredential {
    /// The verifier of `password` for `mechanism`, with a fresh random salt. The password is
    /// taken as its UTF-8 bytes, as Kafka's and librdkafka's SCRAM do (no SASLprep).
    public static func make(
        password: String, mechanism: ScramMechanism, iterations: Int = ScramCredential.minIterations,
        salt: [UInt8]? = nil
    ) throws(BrookError) -> ScramCredential {
        let salt = salt ?? ScramKeys.randomBytes(24)
        guard (minIterations...maxIterations).contains(iterations) else {
            throw BrookError(.invalidRequest, "SCRAM iterations \(iterations) is invalid: use \(minIterations) to \(maxIterations)")
        }
        guard !password.isEmpty else {
            throw BrookError(.invalidRequest, "the password is empty: give a password of at least one character")
        }
        let salted = ScramKeys.saltedPassword(Array(password.utf8), salt: salt, iterations: iterations, mechanism)
        let clientKey = ScramKeys.hmac(salted, Array("Client Key".utf8), mechanism)
        return ScramCredential(
            mechanism: mechanism, salt: salt, iterations: iterations,
            storedKey: ScramKeys.hash(clientKey, mechanism),
            serverKey: ScramKeys.hmac(salted, Array("Server Key".utf8), mechanism))
    }

    /// Verifiers for every mechanism Brook offers.
    public static func makeAll(password: String, iterations: Int = ScramCredential.minIterations) throws(BrookError) -> [ScramCredential] {
        var all: [ScramCredential] = []
        for mechanism in ScramMechanism.allCases {
            all.append(try make(password: password, mechanism: mechanism, iterations: iterations))
        }
        return all
    }

    /// Whether `password` is the one this verifier was made from (PLAIN authentication): the
    /// same derivation as a SCRAM client's, compared in constant time.
    public func matches(password: String) -> Bool {
        let salted = ScramKeys.saltedPassword(Array(password.utf8), salt: salt, iterations: iterations, mechanism)
        let clientKey = ScramKeys.hmac(salted, Array("Client Key".utf8), mechanism)
        return ScramKeys.constantTimeEqual(ScramKeys.hash(clientKey, mechanism), storedKey)
    }
}
