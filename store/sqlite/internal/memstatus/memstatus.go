// Package memstatus turns off SQLite's count of the memory it holds, before any connection opens.
//
// SQLite counts every allocation and free under one process-wide mutex, for sqlite3_status and a
// soft heap limit, neither of which Switchyard reads or sets. The driver compiles SQLite with the
// count on (SQLITE_DEFAULT_MEMSTATUS=1); SQLite's own list of recommended options turns it off.
package memstatus

/*
#include <stdint.h>
// Defined by the SQLite that github.com/mattn/go-sqlite3 compiles into the binary. cgo cannot call
// the variadic sqlite3_config itself.
extern int sqlite3_config(int, ...);
extern int64_t sqlite3_memory_used(void);
static int memstatus_off(void) {
	return sqlite3_config(9, 0); // SQLITE_CONFIG_MEMSTATUS
}
*/
import "C"

// Off is SQLite's answer: 0 (SQLITE_OK) when the count is off, 21 (SQLITE_MISUSE) when SQLite had
// already started, as it does on opening the first connection.
var Off = int(C.memstatus_off())

// Used is the memory SQLite counts as held: always 0 while the count is off.
func Used() int64 { return int64(C.sqlite3_memory_used()) }
