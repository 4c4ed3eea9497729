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
// A checkpoint copies pages from the WAL to the database one page at a time, each a read of the
// WAL; the frames it copies were all written before it began and stay as they are until it ends.
// Between the SQLITE_FCNTL_CKPT_START and CKPT_DONE SQLite sends the database file, this VFS reads
// the WAL for it in chunks of 256 KiB, at most 16 of them, and serves the checkpoint's reads from
// them: strace of 16 x 20 counted a pread of the WAL for each page the checkpoints copied, 7,000 a
// second. Reads outside a checkpoint, and those that straddle two chunks, go to the file.
//
// The database file is wrapped only to see those two file controls; its other methods pass
// through. Every other file (shared memory, journals) is the default VFS's own, unwrapped.

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

extern sqlite3_file *sqlite3_database_file_object(const char *zName);

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_IOERR_SHORT_READ (10 | (2 << 8))
#define SQLITE_OPEN_MAIN_DB 0x00000100
#define SQLITE_OPEN_WAL 0x00080000
#define SQLITE_FCNTL_CKPT_DONE 37
#define SQLITE_FCNTL_CKPT_START 39

#include "walbuffer.h"

// walBufferSize is the most the buffer of one WAL file holds; a transaction's frames past it are
// written as it fills. The unix VFS writes at most 128 KiB less a byte in one call (its
// seekAndWriteFd masks the length with 0x1ffff; a longer write fails as a full disk).
enum { walBufferSize = (1 << 17) - 1, walFrameHeaderSize = 24 };

// A checkpoint of SQLite's default 1,000 pages spans 4 MiB of WAL: 16 chunks of 256 KiB hold it.
enum { chunkSize = 1 << 18, chunkSlots = 16 };

// Every file this VFS wraps begins so: the methods SQLite calls, then the default VFS's file, in
// the same allocation after the wrapper.
typedef struct wrapper {
	sqlite3_file base;
	sqlite3_file *real;
} wrapper;

static sqlite3_file *realOf(sqlite3_file *pf) { return ((wrapper *)pf)->real; }

typedef struct dbFile {
	wrapper w;
	int checkpointing;     // between SQLITE_FCNTL_CKPT_START and SQLITE_FCNTL_CKPT_DONE
	unsigned checkpoints;  // CKPT_STARTs seen, so a WAL's chunks serve one checkpoint only
} dbFile;

typedef struct walFile {
	wrapper w;
	char *buf;              // allocated on the first write: most connections only read
	int used;               // bytes in buf
	sqlite3_int64 start;    // file offset of buf[0]
	int flushAfterNextWrite; // the last write was a commit frame's header
	sqlite3_int64 end;       // the end of what was appended since the WAL header was written

	dbFile *db;                           // the database whose WAL this is, if opened here too
	char *chunks;                         // chunkSlots chunks, allocated at the first checkpoint
	sqlite3_int64 chunkIndex[chunkSlots]; // the chunk (offset / chunkSize) a slot holds, or -1
	int chunkLen[chunkSlots];             // bytes of it the file had
	unsigned chunksOf;                    // the db's checkpoint the slots were read in
} walFile;

static sqlite3_vfs *realVfs;
static sqlite3_vfs bufferedVfs;
static int wrapperSize; // the larger of walFile and dbFile rounded up to 8: where the real file starts

// Counters for the tests: writes SQLite made to WAL files into a buffer, and writes this VFS made
// to WAL files.
static _Atomic long long writesBuffered, writesIssued;

// Counters for the tests: reads of WAL files a checkpoint's chunks served, and chunks read.
static _Atomic long long checkpointReadsServed, checkpointChunksRead;

// Methods that pass straight through to the default VFS's file, shared by both wrappers.
static int passClose(sqlite3_file *pf) { return realOf(pf)->pMethods->xClose(realOf(pf)); }

static int passRead(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off) {
	return realOf(pf)->pMethods->xRead(realOf(pf), p, amt, off);
}

static int passWrite(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off) {
	return realOf(pf)->pMethods->xWrite(realOf(pf), p, amt, off);
}

static int passTruncate(sqlite3_file *pf, sqlite3_int64 size) {
	return realOf(pf)->pMethods->xTruncate(realOf(pf), size);
}

static int passSync(sqlite3_file *pf, int flags) { return realOf(pf)->pMethods->xSync(realOf(pf), flags); }

static int passFileSize(sqlite3_file *pf, sqlite3_int64 *size) {
	return realOf(pf)->pMethods->xFileSize(realOf(pf), size);
}

static int passLock(sqlite3_file *pf, int lock) { return realOf(pf)->pMethods->xLock(realOf(pf), lock); }

static int passUnlock(sqlite3_file *pf, int lock) { return realOf(pf)->pMethods->xUnlock(realOf(pf), lock); }

static int passCheckReservedLock(sqlite3_file *pf, int *out) {
	return realOf(pf)->pMethods->xCheckReservedLock(realOf(pf), out);
}

static int passSectorSize(sqlite3_file *pf) { return realOf(pf)->pMethods->xSectorSize(realOf(pf)); }

static int passDeviceCharacteristics(sqlite3_file *pf) {
	return realOf(pf)->pMethods->xDeviceCharacteristics(realOf(pf));
}

// SQLite maps shared memory through the database file only; a WAL file passes these through for
// completeness' sake.
static int passShmMap(sqlite3_file *pf, int pg, int size, int extend, void volatile **pp) {
	return realOf(pf)->pMethods->xShmMap(realOf(pf), pg, size, extend, pp);
}

static int passShmLock(sqlite3_file *pf, int offset, int n, int flags) {
	return realOf(pf)->pMethods->xShmLock(realOf(pf), offset, n, flags);
}

static void passShmBarrier(sqlite3_file *pf) { realOf(pf)->pMethods->xShmBarrier(realOf(pf)); }

static int passShmUnmap(sqlite3_file *pf, int deleteFlag) {
	return realOf(pf)->pMethods->xShmUnmap(realOf(pf), deleteFlag);
}

// A file without memory maps (methods before version 3) answers no mapping, and SQLite reads.
static int passFetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp) {
	if (realOf(pf)->pMethods->iVersion < 3) {
		*pp = NULL;
		return SQLITE_OK;
	}
	return realOf(pf)->pMethods->xFetch(realOf(pf), off, amt, pp);
}

static int passUnfetch(sqlite3_file *pf, sqlite3_int64 off, void *p) {
	if (realOf(pf)->pMethods->iVersion < 3) {
		return SQLITE_OK;
	}
	return realOf(pf)->pMethods->xUnfetch(realOf(pf), off, p);
}

static int walFlush(walFile *f) {
	if (f->used == 0) {
		return SQLITE_OK;
	}
	int n = f->used;
	f->used = 0;
	writesIssued++;
	return f->w.real->pMethods->xWrite(f->w.real, f->buf, n, f->start);
}

static int walClose(sqlite3_file *pf) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	int closed = f->w.real->pMethods->xClose(f->w.real);
	free(f->buf);
	f->buf = NULL;
	free(f->chunks);
	f->chunks = NULL;
	return rc != SQLITE_OK ? rc : closed;
}

// checkpointBytes returns where the amt bytes at off are in a chunk read during the checkpoint
// under way, reading the chunk if no slot has it; NULL if they straddle two chunks or the chunk
// could not be read, and the read is the file's to answer.
static const char *checkpointBytes(walFile *f, int amt, sqlite3_int64 off) {
	sqlite3_int64 index = off / chunkSize;
	if (amt <= 0 || (off + amt - 1) / chunkSize != index) {
		return NULL;
	}
	if (f->chunks == NULL) {
		f->chunks = malloc((size_t)chunkSlots * chunkSize);
		if (f->chunks == NULL) {
			return NULL;
		}
		f->chunksOf = f->db->checkpoints - 1;
	}
	if (f->chunksOf != f->db->checkpoints) {
		for (int i = 0; i < chunkSlots; i++) {
			f->chunkIndex[i] = -1;
		}
		f->chunksOf = f->db->checkpoints;
	}
	int slot = (int)(index % chunkSlots);
	char *chunk = f->chunks + (size_t)slot * chunkSize;
	if (f->chunkIndex[slot] != index) {
		f->chunkIndex[slot] = -1;
		sqlite3_int64 start = index * chunkSize;
		int rc = f->w.real->pMethods->xRead(f->w.real, chunk, chunkSize, start);
		int len = chunkSize;
		if (rc == SQLITE_IOERR_SHORT_READ) {
			// The last chunk ends where the file does.
			sqlite3_int64 size;
			rc = f->w.real->pMethods->xFileSize(f->w.real, &size);
			len = size - start < chunkSize ? (int)(size > start ? size - start : 0) : chunkSize;
		}
		if (rc != SQLITE_OK) {
			return NULL;
		}
		f->chunkIndex[slot] = index;
		f->chunkLen[slot] = len;
		checkpointChunksRead++;
	}
	int at = (int)(off - index * chunkSize);
	if (at + amt > f->chunkLen[slot]) {
		return NULL;
	}
	checkpointReadsServed++;
	return chunk + at;
}

static int walRead(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	if (rc != SQLITE_OK) {
		return rc;
	}
	if (f->db != NULL && f->db->checkpointing) {
		const char *bytes = checkpointBytes(f, amt, off);
		if (bytes != NULL) {
			memcpy(p, bytes, (size_t)amt);
			return SQLITE_OK;
		}
	}
	return f->w.real->pMethods->xRead(f->w.real, p, amt, off);
}

static int isCommitFrameHeader(const void *p, int amt) {
	const unsigned char *b = p;
	return amt == walFrameHeaderSize && (b[4] | b[5] | b[6] | b[7]) != 0;
}

// forgetChunks drops what checkpointBytes read: the file is changing. A checkpoint writes nothing
// to its WAL, so this never happens during one; it keeps a checkpoint whose end SQLite did not
// report from answering later reads with what the file held before.
static void forgetChunks(walFile *f) {
	if (f->db != NULL) {
		f->chunksOf = f->db->checkpoints - 1;
	}
}

static int walWrite(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off) {
	walFile *f = (walFile *)pf;
	int rc = SQLITE_OK;
	forgetChunks(f);
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
		rc = f->w.real->pMethods->xWrite(f->w.real, p, amt, off);
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
	forgetChunks(f);
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->w.real->pMethods->xTruncate(f->w.real, size);
}

static int walSync(sqlite3_file *pf, int flags) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->w.real->pMethods->xSync(f->w.real, flags);
}

static int walFileSize(sqlite3_file *pf, sqlite3_int64 *size) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->w.real->pMethods->xFileSize(f->w.real, size);
}

static int walFileControl(sqlite3_file *pf, int op, void *arg) {
	walFile *f = (walFile *)pf;
	int rc = walFlush(f);
	return rc != SQLITE_OK ? rc : f->w.real->pMethods->xFileControl(f->w.real, op, arg);
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
	passLock,
	passUnlock,
	passCheckReservedLock,
	walFileControl,
	passSectorSize,
	passDeviceCharacteristics,
	passShmMap,
	passShmLock,
	passShmBarrier,
	passShmUnmap,
	NULL,
	NULL,
};

// The database file's methods are its own but for the file controls that bracket a checkpoint.
static int dbFileControl(sqlite3_file *pf, int op, void *arg) {
	dbFile *f = (dbFile *)pf;
	if (op == SQLITE_FCNTL_CKPT_START) {
		f->checkpointing = 1;
		f->checkpoints++;
	} else if (op == SQLITE_FCNTL_CKPT_DONE) {
		f->checkpointing = 0;
	}
	return f->w.real->pMethods->xFileControl(f->w.real, op, arg);
}

// Version 3 like the unix VFS's own, so memory-mapped reads of the database stay available.
static const sqlite3_io_methods dbMethods = {
	3,
	passClose,
	passRead,
	passWrite,
	passTruncate,
	passSync,
	passFileSize,
	passLock,
	passUnlock,
	passCheckReservedLock,
	dbFileControl,
	passSectorSize,
	passDeviceCharacteristics,
	passShmMap,
	passShmLock,
	passShmBarrier,
	passShmUnmap,
	passFetch,
	passUnfetch,
};

// openWrapped zeroes the wrapper of size bytes at pf, opens the default VFS's file behind it, and
// gives it methods if the file opened.
static int openWrapped(sqlite3_file *pf, size_t size, const char *name, int flags, int *outFlags,
                       const sqlite3_io_methods *methods) {
	wrapper *w = (wrapper *)pf;
	memset(w, 0, size);
	w->real = (sqlite3_file *)((char *)pf + wrapperSize);
	w->real->pMethods = NULL;
	int rc = realVfs->xOpen(realVfs, name, w->real, flags, outFlags);
	// SQLite closes a file whose open failed only if its methods are set.
	w->base.pMethods = w->real->pMethods != NULL ? methods : NULL;
	return rc;
}

static int bufferedOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *outFlags) {
	if (flags & SQLITE_OPEN_MAIN_DB) {
		return openWrapped(pf, sizeof(dbFile), name, flags, outFlags, &dbMethods);
	}
	if ((flags & SQLITE_OPEN_WAL) == 0) {
		return realVfs->xOpen(realVfs, name, pf, flags, outFlags);
	}
	int rc = openWrapped(pf, sizeof(walFile), name, flags, outFlags, &walMethods);
	if (rc == SQLITE_OK) {
		sqlite3_file *db = sqlite3_database_file_object(name);
		if (db != NULL && db->pMethods == &dbMethods) {
			((walFile *)pf)->db = (dbFile *)db;
		}
	}
	return rc;
}

int switchyard_walbuffer_register(void) {
	realVfs = sqlite3_vfs_find(NULL);
	if (realVfs == NULL) {
		return SQLITE_ERROR;
	}
	size_t larger = sizeof(walFile) > sizeof(dbFile) ? sizeof(walFile) : sizeof(dbFile);
	wrapperSize = (int)((larger + 7) & ~(size_t)7);
	bufferedVfs = *realVfs;
	if (bufferedVfs.iVersion > 3) {
		bufferedVfs.iVersion = 3;
	}
	bufferedVfs.pNext = NULL;
	bufferedVfs.zName = SWITCHYARD_WALBUFFER_VFS;
	bufferedVfs.szOsFile = wrapperSize + realVfs->szOsFile;
	bufferedVfs.xOpen = bufferedOpen;
	return sqlite3_vfs_register(&bufferedVfs, 0);
}

long long switchyard_walbuffer_writes_buffered(void) { return writesBuffered; }
long long switchyard_walbuffer_writes_issued(void) { return writesIssued; }
long long switchyard_walbuffer_checkpoint_reads_served(void) { return checkpointReadsServed; }
long long switchyard_walbuffer_checkpoint_chunks_read(void) { return checkpointChunksRead; }
