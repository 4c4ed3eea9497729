// Package startconfig sets SQLite's process-wide options, which only take effect before SQLite
// starts: before any connection opens.
//
// The memory count: SQLite counts every allocation and free under one process-wide mutex, for
// sqlite3_status and a soft heap limit, neither of which Switchyard reads or sets. The driver
// compiles SQLite with the count on (SQLITE_DEFAULT_MEMSTATUS=1); SQLite's own list of recommended
// options turns it off.
//
// The page cache's first allocation: by default every page cache, including the one of each
// temporary b-tree a statement opens (an IN list's, a materialised VALUES'), starts with one
// allocation of 20 pages (about 86 KB) and frees it when it closes. The store's statements open
// several such b-trees per transaction, and in the load generator's 16 x 20 run the server took
// 12,000-20,000 page faults a second, most of them in SQLite's page cache as it filled those blocks:
// malloc's fresh pages from the kernel each time. Without the bulk allocation each page is its own
// allocation, and the faults fell to a few hundred to 2,000 a second.
package startconfig

/*
#include <stdint.h>
// Defined by the SQLite that github.com/mattn/go-sqlite3 compiles into the binary. cgo cannot call
// the variadic sqlite3_config itself.
extern int sqlite3_config(int, ...);
extern int64_t sqlite3_memory_used(void);
static int memstatus_off(void) {
	return sqlite3_config(9, 0); // SQLITE_CONFIG_MEMSTATUS
}
static int pagecache_bulk_off(void) {
	return sqlite3_config(7, (void*)0, 0, 0); // SQLITE_CONFIG_PAGECACHE: no pool, no first allocation
}
*/
import "C"

// MemstatusOff and PagecacheBulkOff are SQLite's answers: 0 (SQLITE_OK) when the option is set,
// 21 (SQLITE_MISUSE) when SQLite had already started, as it does on opening the first connection.
var (
	MemstatusOff     = int(C.memstatus_off())
	PagecacheBulkOff = int(C.pagecache_bulk_off())
)

// Used is the memory SQLite counts as held: always 0 while the count is off.
func Used() int64 { return int64(C.sqlite3_memory_used()) }
