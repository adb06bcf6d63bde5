/// Where an opened file stood and what opening it did.
public struct OpenReport: Sendable, Hashable {
    /// `user_version` found in the file (0 for a new file).
    public var foundVersion: Int
    /// Migrations applied while opening.
    public var appliedMigrations: [String]
    /// WAL frames present at open: a non-zero count means the last run did not close cleanly
    /// and SQLite recovered its committed transactions from the WAL.
    public var walFramesAtOpen: Int
    /// Partitions whose counters were brought up to date from their log tables: those that
    /// took records after their counters' row was last saved (see the writer's commit),
    /// when the last run did not close cleanly.
    public var recoveredCounters: [String]
    /// Schema objects changed outside Brook and put back: a topic's dropped view, a log table's
    /// missing append-only triggers.
    public var repairs: [String] = []
    /// Topics left out because their log table is gone (dropped outside Brook), each with
    /// the error their requests get.
    public var unavailableTopics: [String: BrookError] = [:]

    public init(foundVersion: Int, appliedMigrations: [String], walFramesAtOpen: Int, recoveredCounters: [String]) {
        self.foundVersion = foundVersion
        self.appliedMigrations = appliedMigrations
        self.walFramesAtOpen = walFramesAtOpen
        self.recoveredCounters = recoveredCounters
    }
}
