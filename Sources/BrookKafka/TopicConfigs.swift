import BrookModel

/// The topic configs Kafka users set, as Brook holds them: read with DescribeConfigs, set with
/// CreateTopics, AlterConfigs and IncrementalAlterConfigs. Brook's own settings (retention, record
/// size, timestamp type, compression) map onto ``TopicConfig``; cleanup.policy has the one value
/// Brook implements.
enum TopicConfigs {
    struct Entry {
        var name: String
        var value: String
        var isDefault: Bool
        /// Brook implements only this value.
        var readOnly: Bool
    }

    /// Configs with one value in Brook: any other is refused.
    static let fixed: [String: String] = [
        "cleanup.policy": "delete"
    ]

    static func entries(_ config: TopicConfig) -> [Entry] {
        [
            Entry(name: "cleanup.policy", value: "delete", isDefault: true, readOnly: true),
            Entry(
                name: "compression.type", value: config.compressionType.rawValue, isDefault: config.compressionType == .producer,
                readOnly: false),
            Entry(
                name: "max.message.bytes", value: "\(config.maxMessageBytes)",
                isDefault: config.maxMessageBytes == TopicConfig.defaultMaxMessageBytes, readOnly: false),
            Entry(
                name: "message.timestamp.type", value: config.messageTimestampType.rawValue,
                isDefault: config.messageTimestampType == .createTime, readOnly: false),
            Entry(
                name: "retention.bytes", value: "\(config.retentionBytes)",
                isDefault: config.retentionBytes == TopicConfig.defaultRetentionBytes, readOnly: false),
            Entry(
                name: "retention.ms", value: "\(config.retentionMs)", isDefault: config.retentionMs == TopicConfig.defaultRetentionMs,
                readOnly: false),
        ]
    }

    /// Applies CreateTopics' configs.
    /// - Throws: `INVALID_CONFIG` naming an unknown config, a value that is not a number or not
    ///   one of the config's names, or a value Brook does not implement.
    static func apply(_ configs: [(name: String, value: String?)], to config: inout TopicConfig) throws(BrookError) {
        for (name, value) in configs {
            guard let value else { continue }  // null: the default
            switch name {
            case "retention.ms":
                config.retentionMs = try number(name, value)
            case "retention.bytes":
                config.retentionBytes = try number(name, value)
            case "max.message.bytes":
                config.maxMessageBytes = Int(try number(name, value))
            case "message.timestamp.type":
                config.messageTimestampType = try MessageTimestampType(parsing: value)
            case "compression.type":
                config.compressionType = try CompressionType(parsing: value)
            default:
                guard let only = fixed[name] else {
                    throw BrookError(.invalidConfig, "unknown topic config '\(name)': Brook has \((entries(TopicConfig()).map(\.name)).joined(separator: ", "))")
                }
                guard value == only else {
                    throw BrookError(.invalidConfig, "\(name)=\(value) is not supported: Brook implements \(name)=\(only) only")
                }
            }
        }
        try config.validate()
    }

    /// Applies AlterConfigs (`incremental` false: the configs not given return to their defaults)
    /// or IncrementalAlterConfigs (set, or delete back to the default) to a topic's config.
    /// - Throws: `INVALID_CONFIG` as ``apply(_:to:)`` does, and for append or subtract, which
    ///   only list configs take and Brook has none.
    static func alter(_ configs: [AlterConfigsRequest.Config], incremental: Bool, of current: TopicConfig) throws(BrookError) -> TopicConfig {
        var config = incremental ? current : TopicConfig()
        for change in configs {
            switch change.operation.flatMap(AlterConfigsRequest.Operation.init(rawValue:)) {
            case nil where change.operation != nil:
                throw BrookError(.invalidConfig, "config operation \(change.operation!) on '\(change.name)' is unknown: use 0 (set) or 1 (delete)")
            case nil, .set:
                try apply([(change.name, change.value)], to: &config)
            case .delete:
                try apply([(change.name, defaultValue(change.name))], to: &config)
            case .append, .subtract:
                throw BrookError(.invalidConfig, "'\(change.name)' is not a list config: append and subtract do not apply; use set")
            }
        }
        try config.validate()
        return config
    }

    /// A config's default value, as a string.
    private static func defaultValue(_ name: String) -> String? {
        entries(TopicConfig()).first { $0.name == name }?.value
    }

    private static func number(_ name: String, _ value: String) throws(BrookError) -> Int64 {
        guard let number = Int64(value) else { throw BrookError(.invalidConfig, "\(name)=\(value) is not an integer") }
        return number
    }
}
