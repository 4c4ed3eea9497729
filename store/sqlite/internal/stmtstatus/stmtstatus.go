// Package stmtstatus reads SQLite's own counters of a prepared statement, which the driver does
// not expose, for the tests that check how the hot statements run.
package stmtstatus

/*
#include <stdint.h>
typedef struct sqlite3_stmt sqlite3_stmt;
// Defined by the SQLite that github.com/mattn/go-sqlite3 compiles into the binary.
extern int sqlite3_stmt_status(sqlite3_stmt*, int, int);
static int reprepares(uintptr_t stmt) {
	return sqlite3_stmt_status((sqlite3_stmt*)stmt, 5, 0); // SQLITE_STMTSTATUS_REPREPARE
}
*/
import "C"

import (
	"database/sql/driver"
	"fmt"
	"reflect"

	"github.com/mattn/go-sqlite3"
)

// Reprepares says how many times SQLite has prepared stmt again since it was first prepared:
// after a schema change, or because its plan depended on a value bound to it that changed.
func Reprepares(stmt driver.Stmt) (int, error) {
	s, ok := stmt.(*sqlite3.SQLiteStmt)
	if !ok {
		return 0, fmt.Errorf("stmtstatus: %T is not a *sqlite3.SQLiteStmt", stmt)
	}
	// The driver keeps the C handle unexported; reflection may read it, not change it.
	handle := reflect.ValueOf(s).Elem().FieldByName("s")
	if !handle.IsValid() || handle.Kind() != reflect.Pointer {
		return 0, fmt.Errorf("stmtstatus: the driver's statement has no handle field s")
	}
	return int(C.reprepares(C.uintptr_t(handle.Pointer()))), nil
}
