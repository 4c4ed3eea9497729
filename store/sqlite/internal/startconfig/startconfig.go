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
//
// The statement journal: a statement that may fail half-way (a multi-row INSERT, an UPDATE of many
// rows, with their unique and foreign keys) keeps the old content of every page it changes that its
// transaction had already changed, to undo the statement alone. Past 64 KiB SQLite moves that
// journal to a temporary file: it creates the file, writes it page by page and drops it with the
// transaction. The store's multi-row statements passed 64 KiB in nearly every busy transaction
// (in 2 s of the load generator's 16 x 20 run, 3,000 writes to such files beside 8,000 to the WAL).
// Kept in memory up to 4 MiB, none is written.
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
static int stmtjournal_spill(int bytes) {
	return sqlite3_config(26, bytes); // SQLITE_CONFIG_STMTJRNL_SPILL
}
*/
import "C"

// MemstatusOff and PagecacheBulkOff are SQLite's answers: 0 (SQLITE_OK) when the option is set,
// 21 (SQLITE_MISUSE) when SQLite had already started, as it does on opening the first connection.
var (
	MemstatusOff        = int(C.memstatus_off())
	PagecacheBulkOff    = int(C.pagecache_bulk_off())
	StmtJournalSpillSet = int(C.stmtjournal_spill(StmtJournalSpill))
)

// StmtJournalSpill is how large a statement journal grows in memory before SQLite moves it to a
// temporary file (SQLite's default: 64 KiB). One statement of the writer's at a time has one, so
// this bounds the memory it takes.
const StmtJournalSpill = 4 << 20

// Used is the memory SQLite counts as held: always 0 while the count is off.
func Used() int64 { return int64(C.sqlite3_memory_used()) }
