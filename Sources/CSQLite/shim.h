#ifndef BROOK_CSQLITE_SHIM_H
#define BROOK_CSQLITE_SHIM_H
#include <sqlite3.h>

// Swift cannot call C variadic functions or import SQLITE_TRANSIENT; these wrappers expose them.
static inline int brook_sqlite3_db_config_int(sqlite3 *db, int op, int value) {
    return sqlite3_db_config(db, op, value, (int *)0);
}

// Sets an on/off option and reports the setting SQLite holds afterwards in *result.
static inline int brook_sqlite3_db_config_int_result(sqlite3 *db, int op, int value, int *result) {
    return sqlite3_db_config(db, op, value, result);
}

static inline sqlite3_destructor_type brook_sqlite3_transient(void) {
    return SQLITE_TRANSIENT;
}

static inline sqlite3_destructor_type brook_sqlite3_static(void) {
    return SQLITE_STATIC;
}
#endif
