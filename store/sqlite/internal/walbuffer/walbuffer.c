// A VFS that writes each transaction's WAL frames to the file in one write, not two per frame.
//
// SQLite writes a WAL frame as two writes, its 24-byte header and then its page. This VFS keeps
// the frames a connection appends to its WAL in a buffer, and writes the buffer at once:
//
//   - after the page of a commit frame (a frame header with a database size, bytes 4-7, non-zero):
//     the transaction's frames are then in the file before SQLite publishes the commit in the
//     WAL index, as without the buffer, so another connection, or the process after a crash of
//     its own, reads what it would have read;
//   - before anything else reads, syncs, sizes, truncates or closes the file, or asks it anything
//     (xFileControl): all of them see the file as SQLite wrote it;
//   - before a write that does not continue the buffer, so the file sees the writes in SQLite's
//     order;
//   - when the next write would not fit.
//
// Only appends are buffered. A write below the end of what was appended since the WAL last
// restarted (SQLite overwrites a page a transaction had spilled to the WAL, or rewrites frame
// headers' checksums after its commit frame) goes to the file at once: the rewritten checksums
// come after the commit frame and before the commit is published, and a crash that found them
// stale would end the WAL's recovery there, losing the commit. A write at offset 0 (the WAL
// header: SQLite restarts the WAL from its start) begins the appends afresh.
//
// A write error is SQLite's to handle either way: the buffer holds only frames of the transaction
// under way, so the error comes back from one of its own writes, or its commit frame's.
//
// Every other file (the database, its shared memory, journals) is the default VFS's own, unwrapped.

#include <stdlib.h>
#include <string.h>
#include <stdint.h>

// The part of SQLite's sqlite3.h this VFS needs, declared as there (the versions of these structs
// only ever grow at their ends, and iVersion says which parts a caller may use).
typedef long long int sqlite3_int64;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;
typedef void (*sqlite3_syscall_ptr)(void);

struct sqlite3_file {
	const struct sqlite3_io_methods *pMethods;
};

struct sqlite3_io_methods {
	int iVersion;
	int (*xClose)(sqlite3_file *);
	int (*xRead)(sqlite3_file *, void *, int iAmt, sqlite3_int64 iOfst);
	int (*xWrite)(sqlite3_file *, const void *, int iAmt, sqlite3_int64 iOfst);
	int (*xTruncate)(sqlite3_file *, sqlite3_int64 size);
	int (*xSync)(sqlite3_file *, int flags);
	int (*xFileSize)(sqlite3_file *, sqlite3_int64 *pSize);
	int (*xLock)(sqlite3_file *, int);
	int (*xUnlock)(sqlite3_file *, int);
	int (*xCheckReservedLock)(sqlite3_file *, int *pResOut);
	int (*xFileControl)(sqlite3_file *, int op, void *pArg);
	int (*xSectorSize)(sqlite3_file *);
	int (*xDeviceCharacteristics)(sqlite3_file *);
	int (*xShmMap)(sqlite3_file *, int iPg, int pgsz, int, void volatile **);
	int (*xShmLock)(sqlite3_file *, int offset, int n, int flags);
	void (*xShmBarrier)(sqlite3_file *);
	int (*xShmUnmap)(sqlite3_file *, int deleteFlag);
	int (*xFetch)(sqlite3_file *, sqlite3_int64 iOfst, int iAmt, void **pp);
	int (*xUnfetch)(sqlite3_file *, sqlite3_int64 iOfst, void *p);
};

struct sqlite3_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	sqlite3_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(sqlite3_vfs *, const char *zName, sqlite3_file *, int flags, int *pOutFlags);
	int (*xDelete)(sqlite3_vfs *, const char *zName, int syncDir);
	int (*xAccess)(sqlite3_vfs *, const char *zName, int flags, int *pResOut);
	int (*xFullPathname)(sqlite3_vfs *, const char *zName, int nOut, char *zOut);
	void *(*xDlOpen)(sqlite3_vfs *, const char *zFilename);
	void (*xDlError)(sqlite3_vfs *, int nByte, char *zErrMsg);
	void (*(*xDlSym)(sqlite3_vfs *, void *, const char *zSymbol))(void);
	void (*xDlClose)(sqlite3_vfs *, void *);
	int (*xRandomness)(sqlite3_vfs *, int nByte, char *zOut);
	int (*xSleep)(sqlite3_vfs *, int microseconds);
	int (*xCurrentTime)(sqlite3_vfs *, double *);
	int (*xGetLastError)(sqlite3_vfs *, int, char *);
	int (*xCurrentTimeInt64)(sqlite3_vfs *, sqlite3_int64 *);
	int (*xSetSystemCall)(sqlite3_vfs *, const char *zName, sqlite3_syscall_ptr);
	sqlite3_syscall_ptr (*xGetSystemCall)(sqlite3_vfs *, const char *zName);
	const char *(*xNextSystemCall)(sqlite3_vfs *, const char *zName);
};

// Defined by the SQLite that github.com/mattn/go-sqlite3 compiles into the binary.
extern sqlite3_vfs *sqlite3_vfs_find(const char *zVfsName);
extern int sqlite3_vfs_register(sqlite3_vfs *, int makeDflt);

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_OPEN_WAL 0x00080000

#include "walbuffer.h"

// walBufferSize is the most the buffer of one WAL file holds; a transaction's frames past it are
// written as it fills. The unix VFS writes at most 128 KiB less a byte in one call (its
// seekAndWriteFd masks the length with 0x1ffff; a longer write fails as a full disk).
enum { walBufferSize = (1 << 17) - 1, walFrameHeaderSize = 24 };

typedef struct walFile {
	sqlite3_file base;
	sqlite3_file *real;     // the default VFS's file, in the same allocation, after this struct
	char *buf;              // allocated on the first write: most connections only read
	int used;               // bytes in buf
	sqlite3_int64 start;    // file offset of buf[0]
	int flushAfterNextWrite; // the last write was a commit frame's header
	sqlite3_int64 end;       // the end of what was appended since the WAL header was written
} walFile;

static sqlite3_vfs *realVfs;
static sqlite3_vfs bufferedVfs;
static int walFileHeader; // sizeof(walFile) rounded up to 8, where the real file starts

// Counters for the tests: writes SQLite made to WAL files into a buffer, and writes this VFS made
// to WAL files.
static _Atomic long long writesBuffered, writesIssued;

static int walFlush(walFile *f) {
	if (f->used == 0) {
		return SQLITE_OK;
	}
	int n = f->used;
	f->used = 0;
	writesIssued++;
	return f->real->pMethods->xWrite(f->real, f->buf, n, f->start);
}

static int walClose(sqlite3_file *pf) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	int closed = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : closed;
}

static int walRead(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, amt, off);
}

static int isCommitFrameHeader(const void *p, int amt) {
	const unsigned char *b = p;
	return amt == walFrameHeaderSize && (b[4] | b[5] | b[6] | b[7]) != 0;
}

static int walWrite(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off) {
	walFile *f = (walFile *)pf;
	int rc = SQLITE_OK;
	int commitHeader = isCommitFrameHeader(p, amt);
	if (off == 0) {
		f->end = 0;
	}
	int append = off >= f->end;
	if (f->used > 0 && (!append || off != f->start + f->used || f->used + amt > walBufferSize)) {
		rc = walFlush(f);
	}
	if (append) {
		f->end = off + amt;
	}
	if (rc == SQLITE_OK && f->buf == NULL && amt <= walBufferSize) {
		f->buf = malloc(walBufferSize);
	}
	if (rc != SQLITE_OK) {
		// SQLite ends the transaction on the error; what follows starts afresh.
	} else if (!append || f->buf == NULL || amt > walBufferSize) {
		writesIssued++;
		rc = f->real->pMethods->xWrite(f->real, p, amt, off);
	} else {
		if (f->used == 0) {
			f->start = off;
		}
		memcpy(f->buf + f->used, p, amt);
		f->used += amt;
		writesBuffered++;
	}
	if (f->flushAfterNextWrite) {
		f->flushAfterNextWrite = 0;
		int flushed = walFlush(f);
		if (rc == SQLITE_OK) {
			rc = flushed;
		}
	} else if (rc == SQLITE_OK) {
		f->flushAfterNextWrite = commitHeader;
	}
	return rc;
}

static int walTruncate(sqlite3_file *pf, sqlite3_int64 size) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int walSync(sqlite3_file *pf, int flags) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int walFileSize(sqlite3_file *pf, sqlite3_int64 *size) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int walLock(sqlite3_file *pf, int lock) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xLock(f->real, lock);
}

static int walUnlock(sqlite3_file *pf, int lock) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xUnlock(f->real, lock);
}

static int walCheckReservedLock(sqlite3_file *pf, int *out) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int walFileControl(sqlite3_file *pf, int op, void *arg) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int walSectorSize(sqlite3_file *pf) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xSectorSize(f->real);
}

static int walDeviceCharacteristics(sqlite3_file *pf) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

// SQLite maps shared memory through the database file and memory-maps only the database file, so
// a WAL file needs neither; they pass through for completeness' sake.
static int walShmMap(sqlite3_file *pf, int pg, int size, int extend, void volatile **pp) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xShmMap(f->real, pg, size, extend, pp);
}

static int walShmLock(sqlite3_file *pf, int offset, int n, int flags) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void walShmBarrier(sqlite3_file *pf) {
	walFile *f = (walFile *)pf;
	f->real->pMethods->xShmBarrier(f->real);
}

static int walShmUnmap(sqlite3_file *pf, int deleteFlag) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xShmUnmap(f->real, deleteFlag);
}

// Version 2: no xFetch, so SQLite never reads a WAL file through a memory map that the buffer
// could be ahead of.
static const sqlite3_io_methods walMethods = {
	2,
	walClose,
	walRead,
	walWrite,
	walTruncate,
	walSync,
	walFileSize,
	walLock,
	walUnlock,
	walCheckReservedLock,
	walFileControl,
	walSectorSize,
	walDeviceCharacteristics,
	walShmMap,
	walShmLock,
	walShmBarrier,
	walShmUnmap,
	NULL,
	NULL,
};

static int bufferedOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *outFlags) {
	if ((flags & SQLITE_OPEN_WAL) == 0) {
		return realVfs->xOpen(realVfs, name, pf, flags, outFlags);
	}
	walFile *f = (walFile *)pf;
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)((char *)pf + walFileHeader);
	f->real->pMethods = NULL;
	int rc = realVfs->xOpen(realVfs, name, f->real, flags, outFlags);
	// SQLite closes a file whose open failed only if its methods are set.
	f->base.pMethods = f->real->pMethods != NULL ? &walMethods : NULL;
	return rc;
}

int switchyard_walbuffer_register(void) {
	realVfs = sqlite3_vfs_find(NULL);
	if (realVfs == NULL) {
		return SQLITE_ERROR;
	}
	walFileHeader = (int)((sizeof(walFile) + 7) & ~(size_t)7);
	bufferedVfs = *realVfs;
	if (bufferedVfs.iVersion > 3) {
		bufferedVfs.iVersion = 3;
	}
	bufferedVfs.pNext = NULL;
	bufferedVfs.zName = SWITCHYARD_WALBUFFER_VFS;
	bufferedVfs.szOsFile = walFileHeader + realVfs->szOsFile;
	bufferedVfs.xOpen = bufferedOpen;
	return sqlite3_vfs_register(&bufferedVfs, 0);
}

long long switchyard_walbuffer_writes_buffered(void) { return writesBuffered; }
long long switchyard_walbuffer_writes_issued(void) { return writesIssued; }
