import CSQLite

/// SQL functions Brook's write connection registers for its own maintenance statements (never for
/// the schema or users' SQL: they are `SQLITE_DIRECTONLY`):
/// - `brook_header_bytes(headers)`: the bytes of a record's headers in ``HeaderCodec``'s form,
///   the measure `max.message.bytes` and `retention.bytes` count, from the stored JSON (0 for NULL);
/// - `brook_headers_json(blob)`: the JSON form of headers stored by schema version 4 and earlier.
enum HeaderFunctions {
    static func register(on handle: OpaquePointer) throws(SQLiteError) {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY
        var code = sqlite3_create_function_v2(handle, "brook_header_bytes", 1, flags, nil, { context, _, arguments in
            guard let argument = arguments?[0], sqlite3_value_type(argument) != SQLITE_NULL else {
                sqlite3_result_int64(context, 0)
                return
            }
            let pointer = sqlite3_value_blob(argument)
            let json = UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_value_bytes(argument)))
            let decoder = HeaderJSONDecoder()
            // Stored JSON that does not decode is damage; count what it occupies.
            sqlite3_result_int64(context, Int64(decoder.decode(json) ? decoder.codecForm.count : json.count))
        }, nil, nil, nil)
        guard code == SQLITE_OK else { throw SQLiteError(connection: handle, code: code) }
        code = sqlite3_create_function_v2(handle, "brook_headers_json", 1, flags, nil, { context, _, arguments in
            guard let argument = arguments?[0], sqlite3_value_type(argument) != SQLITE_NULL else {
                sqlite3_result_null(context)
                return
            }
            let pointer = sqlite3_value_blob(argument)
            let codecForm = UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_value_bytes(argument)))
            // An empty or undecodable blob read as no headers before; it stays so.
            guard !codecForm.isEmpty, let json = HeaderJSON.encode(codecForm: codecForm) else {
                sqlite3_result_null(context)
                return
            }
            json.withUnsafeBytes { text in
                sqlite3_result_text(context, text.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(text.count), brook_sqlite3_transient())
            }
        }, nil, nil, nil)
        guard code == SQLITE_OK else { throw SQLiteError(connection: handle, code: code) }
    }
}
