// Package walbuffer registers a SQLite VFS that writes each transaction's WAL frames to the file
// in one system call, where SQLite's own makes two a frame (walbuffer.c says when it writes and
// why what another connection or a restart reads is unchanged), and that reads the WAL in large
// chunks for the pages a checkpoint copies, where SQLite's own reads each page. The store's writer
// opens the database through it; its readers, which write nothing, through SQLite's default VFS.
//
// In the load generator's 64 x 1 run, strace counted 6 pwrites a delivered event, 5 of them to the
// WAL, most of a transaction's frames each its own two: on a virtual machine each is a round trip
// through the hypervisor.
package walbuffer

/*
#include "walbuffer.h"
*/
import "C"

import (
	"fmt"

	// SQLite's start options must be set before this package registers its VFS, which starts SQLite.
	_ "github.com/switchyard/switchyard/store/sqlite/internal/startconfig"
)

// VFS is the name to open a connection with (the driver's vfs parameter).
const VFS = C.SWITCHYARD_WALBUFFER_VFS

// Registered is nil once the VFS is registered; a connection cannot be opened with it otherwise.
var Registered = register()

func register() error {
	if rc := C.switchyard_walbuffer_register(); rc != 0 {
		return fmt.Errorf("register SQLite VFS %s: SQLite error %d", VFS, int(rc))
	}
	return nil
}

// Writes says how many writes SQLite made to WAL files opened through the VFS that went to its
// buffer, and how many writes the VFS made to those files: for the tests.
func Writes() (buffered, issued int64) {
	return int64(C.switchyard_walbuffer_writes_buffered()), int64(C.switchyard_walbuffer_writes_issued())
}

// CheckpointReads says how many reads of WAL files during checkpoints the VFS answered from its
// chunks, and how many chunks it read: for the tests.
func CheckpointReads() (served, chunks int64) {
	return int64(C.switchyard_walbuffer_checkpoint_reads_served()), int64(C.switchyard_walbuffer_checkpoint_chunks_read())
}
