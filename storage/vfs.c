/* vfs.c - SQLite's unix VFS with its small writes combined ("tandem-wc",
 * the store's writer connection) and its reads in order read ahead (that
 * and "tandem-ra", the reader connection).
 *
 * SQLite writes a WAL frame as two pwrite calls (its 24-byte header, then
 * the page): a 1 MiB message is some 520 system calls into the WAL, and
 * ext4 pays its per-call costs on each (measured here: 200 MB written as
 * header + page pairs took 170-210 ms of CPU, in 128 KiB calls 45-50 ms).
 * tandem-wc keeps a run of contiguous writes to the WAL in memory and
 * hands it to the unix VFS as one write. When a run reaches the file
 * matters:
 *  - A commit's frames are in the WAL before the write of its last frame
 *    returns, as with the unix VFS alone: a frame header (the only 24-byte
 *    write SQLite makes to a WAL) whose "database size after commit" is not
 *    zero marks a commit frame (https://sqlite.org/fileformat.html, 4.1),
 *    and the run is written once that frame's page is in it. An error then
 *    fails the commit, before SQLite publishes it in the wal-index.
 *  - Frames of a transaction not yet committed may wait. They are written
 *    before the WAL is read, synced, measured, truncated or closed through
 *    this handle, and when the connection takes or drops a wal-index lock
 *    (xShmLock on its database file, linked to the WAL's handle). Dropping
 *    the WAL write lock ends the transaction: if its uncommitted frames
 *    cannot be written then, they are dropped (they are past the last
 *    commit, where no reader looks), so they can never land later over
 *    frames another writer put there.
 *  - A run that fails to write is dropped, never tried again later. Its
 *    error goes back to SQLite from the call that wrote it when that call
 *    can fail; otherwise (a file-control hint, an unlock) it fails the next
 *    xSync and the next commit frame, so no commit is published without
 *    all its frames, whatever the synchronous setting.
 * The database file's writes (a checkpoint's pages) are not combined: a
 * checkpoint that cannot copy all of the WAL records its progress
 * (nBackfill) without a sync or any call that could report a write error
 * held back until then.
 *
 * Both read a WAL or a database file ahead when the reads go through it in
 * order, in pages or frames: a message body's overflow pages, read one
 * pread each; a checkpoint's copy of a large message; opening a store whose
 * WAL no process has open, which reads every frame to rebuild the
 * wal-index. The first read ahead is 32 KiB, each next one in the same run
 * twice that up to 128 KiB, so a small body does not pay for a large read.
 * What was read ahead is only used until the connection's next wal-index
 * lock change or write to that file. Between those the bytes it may ask
 * for cannot change: the WAL frames of its snapshot stay while its read
 * lock is held (no writer may start the WAL over), and a database page it
 * reads from the file has no frame in its snapshot, so no checkpoint may
 * write it (a checkpoint copies only frames every reader's snapshot has;
 * SQLite's own memory-mapped reads count on the same). That needs the
 * shared-memory wal-index (store.c never sets locking_mode=EXCLUSIVE), so
 * a database file is read ahead only while its WAL is open.
 *
 * A connection is used by one thread at a time, and a database file and its
 * WAL belong to the same connection, so a handle's buffers need no lock.
 *
 * A run lives within one transaction and its buffer is freed when written,
 * what was read ahead at its end: an idle store holds neither. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "xalloc.h"

#define RA_FIRST (32 * 1024)  /* a run of reads' first read ahead */
/* The longest run, and the buffers' size: the unix VFS writes at most
 * 0x1ffff bytes a call (seekAndWriteFd masks the length), so longer goes
 * out by itself. A buffer's pages are touched only as far as it is used. */
#define WC_MAX 0x1ffff
#define WAL_FRAME_HDR 24

struct wc_file {
	sqlite3_file base;      /* pMethods: wc_methods */
	sqlite3_file *real;     /* the unix VFS's file, right after this */
	const char *vfs_name;   /* tandem-wc or tandem-ra */
	bool combine;           /* tandem-wc: a WAL */
	bool is_wal;            /* a WAL linked to its database file's handle */
	bool commit_next;       /* a WAL: the next write ends a commit */
	sqlite3_filename name;  /* a database file: as SQLite passed it */
	struct wc_file *db;     /* a WAL: its database file's handle */
	struct wc_file *wal;    /* a database file: its WAL's handle */
	struct wc_file *next;   /* open database files (files_mu) */
	char *run;              /* WC_MAX bytes while a run waits */
	size_t run_len;
	sqlite3_int64 run_off;
	char *ra;               /* bytes read ahead: ra_len of them at ra_off */
	size_t ra_len;
	sqlite3_int64 ra_off;
	sqlite3_int64 ra_size;  /* the file's size while reading ahead, or -1 */
	sqlite3_int64 last_end; /* where the last read ended, or -1 */
	size_t ra_next;         /* how much the next read ahead reads */
	int err;                /* a failed run's error, for the next xSync */
};

static sqlite3_vfs wc_vfs, ra_vfs;
static sqlite3_vfs *unix_vfs;
static const sqlite3_io_methods wc_methods;
static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wc_file *db_files; /* to find a WAL's database file */

static void run_drop(struct wc_file *f)
{
	free(f->run);
	f->run = NULL;
	f->run_len = 0;
}

static void ra_drop(struct wc_file *f)
{
	if (!f)
		return;
	free(f->ra);
	f->ra = NULL;
	f->ra_len = 0;
	f->ra_size = f->last_end = -1;
	f->ra_next = RA_FIRST;
}

/* Writes f's run. A run that fails is dropped, never tried again later
 * (by then another connection may have written newer bytes there). When
 * the call that flushed it returns the error to SQLite, run_flush_now
 * clears it; when SQLite may not look (a file-control hint, an unlock)
 * it is kept for the next commit frame, xSync or xClose, which fail with
 * it: no commit is published with frames of it lost. */
static int run_flush(struct wc_file *f)
{
	int rc;

	if (!f || !f->run_len)
		return SQLITE_OK;
	rc = f->real->pMethods->xWrite(f->real, f->run, (int)f->run_len,
				       f->run_off);
	run_drop(f);
	ra_drop(f);
	if (rc != SQLITE_OK && f->err == SQLITE_OK)
		f->err = rc;
	return rc;
}

/* The error of a run that failed since the last call, cleared. */
static int run_err(struct wc_file *f)
{
	int rc = f->err;

	f->err = SQLITE_OK;
	return rc;
}

/* run_flush for a caller that returns the error to SQLite itself. */
static int run_flush_now(struct wc_file *f)
{
	int rc = run_flush(f);

	if (rc != SQLITE_OK)
		run_err(f);
	return rc;
}

static int wc_close(sqlite3_file *file)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc, rc2;

	run_flush(f);
	rc = run_err(f);
	run_drop(f);
	ra_drop(f);
	pthread_mutex_lock(&files_mu);
	if (f->db)
		f->db->wal = NULL;
	if (f->wal)
		f->wal->db = NULL;
	for (struct wc_file **pp = &db_files; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	pthread_mutex_unlock(&files_mu);
	rc2 = f->real->pMethods->xClose(f->real);
	return rc != SQLITE_OK ? rc : rc2;
}

/* A read that follows the last one (the next byte, or past the next WAL
 * frame header): up to f->ra_next bytes of the file from off into f->ra.
 * Returns false when not worth it or not possible; then read as asked. */
static bool ra_fill(struct wc_file *f, int amt, sqlite3_int64 off)
{
	sqlite3_int64 size, len;

	if (f->last_end < 0 || off < f->last_end ||
	    off - f->last_end > WAL_FRAME_HDR || amt >= RA_FIRST / 2) {
		f->ra_next = RA_FIRST;
		return false;
	}
	/* Not while a run waits: the file does not hold its bytes yet, and
	 * what was read ahead would go on hiding them once written. */
	if (f->run_len)
		return false;
	if (f->ra_size < 0 &&
	    f->real->pMethods->xFileSize(f->real, &f->ra_size) != SQLITE_OK)
		f->ra_size = -1;
	size = f->ra_size;
	if (off + amt > size)
		return false;
	len = size - off < (sqlite3_int64)f->ra_next ? size - off
						      : (sqlite3_int64)f->ra_next;
	if (!f->ra)
		f->ra = xmalloc(WC_MAX);
	if (f->real->pMethods->xRead(f->real, f->ra, (int)len, off) !=
	    SQLITE_OK) {
		ra_drop(f);
		return false;
	}
	f->ra_off = off;
	f->ra_len = (size_t)len;
	if (f->ra_next < WC_MAX)
		f->ra_next = f->ra_next * 2 < WC_MAX ? f->ra_next * 2 : WC_MAX;
	return true;
}

static int wc_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc;

	if (f->run_len && off < f->run_off + (sqlite3_int64)f->run_len &&
	    off + amt > f->run_off) {
		rc = run_flush_now(f);
		if (rc != SQLITE_OK)
			return rc;
	}
	/* Read ahead only a WAL linked to its database file's handle, or a
	 * database file once that WAL is open: in WAL mode (shared memory
	 * wal-index, locks through xShmLock) every read transaction starts
	 * and ends with a lock change on that handle; otherwise nothing would
	 * tell us another process had written the file. Journals and temp
	 * files are neither. */
	if (amt <= 0 || (!f->is_wal && !f->wal))
		return f->real->pMethods->xRead(f->real, buf, amt, off);
	if (!(f->ra_len && off >= f->ra_off &&
	      off + amt <= f->ra_off + (sqlite3_int64)f->ra_len) &&
	    !ra_fill(f, amt, off)) {
		rc = f->real->pMethods->xRead(f->real, buf, amt, off);
		f->last_end = rc == SQLITE_OK ? off + amt : -1;
		return rc;
	}
	memcpy(buf, f->ra + (off - f->ra_off), (size_t)amt);
	f->last_end = off + amt;
	return SQLITE_OK;
}

static int wc_write(sqlite3_file *file, const void *buf, int amt,
		    sqlite3_int64 off)
{
	struct wc_file *f = (struct wc_file *)file;
	size_t n = (size_t)amt;
	bool ends_commit = f->commit_next;
	int rc;

	ra_drop(f);
	if (!f->combine || amt <= 0)
		return f->real->pMethods->xWrite(f->real, buf, amt, off);
	f->commit_next = false;
	if (amt == WAL_FRAME_HDR) {
		const unsigned char *h = buf;
		f->commit_next = (h[4] | h[5] | h[6] | h[7]) != 0;
	}
	if (f->run_len &&
	    (off != f->run_off + (sqlite3_int64)f->run_len ||
	     f->run_len + n > WC_MAX)) {
		rc = run_flush_now(f);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (!f->run_len && (n >= WC_MAX || ends_commit)) {
		rc = f->real->pMethods->xWrite(f->real, buf, amt, off);
		if (ends_commit && run_err(f) != SQLITE_OK && rc == SQLITE_OK)
			rc = SQLITE_IOERR_WRITE;
		return rc;
	}
	if (!f->run_len) {
		f->run_off = off;
		if (!f->run)
			f->run = xmalloc(WC_MAX);
	}
	memcpy(f->run + f->run_len, buf, n);
	f->run_len += n;
	if (!ends_commit)
		return SQLITE_OK;
	/* the commit's last frame: all of it in the file, or the commit
	 * fails (also for frames of it lost earlier, see run_flush) */
	rc = run_flush_now(f);
	return rc != SQLITE_OK ? rc : run_err(f);
}

static int wc_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc = run_flush_now(f);

	ra_drop(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wc_sync(sqlite3_file *file, int flags)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc;

	run_flush(f);
	rc = run_err(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wc_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc = run_flush_now(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wc_lock(sqlite3_file *file, int lock)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc = run_flush_now(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xLock(f->real, lock);
}

/* An unlock is made whatever happens to the run (its error stays for the
 * next xSync: SQLite does not always look at an unlock's result). */
static int wc_unlock(sqlite3_file *file, int lock)
{
	struct wc_file *f = (struct wc_file *)file;

	run_flush(f);
	return f->real->pMethods->xUnlock(f->real, lock);
}

static int wc_check_reserved(sqlite3_file *file, int *out)
{
	struct wc_file *f = (struct wc_file *)file;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wc_file_control(sqlite3_file *file, int op, void *arg)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc = run_flush(f);

	if (rc != SQLITE_OK)
		return rc;
	rc = f->real->pMethods->xFileControl(f->real, op, arg);
	/* PRAGMA vfs's name, and what SQLite shows in errors. */
	if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK) {
		char **name = arg;
		char *s = sqlite3_mprintf("%s/%z", f->vfs_name, *name);
		if (s)
			*name = s;
	}
	return rc;
}

static int wc_sector_size(sqlite3_file *file)
{
	struct wc_file *f = (struct wc_file *)file;

	return f->real->pMethods->xSectorSize(f->real);
}

static int wc_device_characteristics(sqlite3_file *file)
{
	struct wc_file *f = (struct wc_file *)file;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int wc_shm_map(sqlite3_file *file, int page, int size, int extend,
		      void volatile **out)
{
	struct wc_file *f = (struct wc_file *)file;

	return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}

static int wc_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct wc_file *f = (struct wc_file *)file;
	/* only a WAL has runs: this is its database file's handle */
	int rc = run_flush(f->wal);

	ra_drop(f->wal);
	ra_drop(f);
	if (rc != SQLITE_OK) {
		/* A lock not taken fails now, the error kept for the commit.
		 * An unlock is made: frames still in a run then are of a
		 * transaction that ends uncommitted (a commit's were written
		 * before it returned), not needed, and fail nothing later. */
		if (!(flags & SQLITE_SHM_UNLOCK))
			return rc;
		run_err(f->wal);
	}
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wc_shm_barrier(sqlite3_file *file)
{
	struct wc_file *f = (struct wc_file *)file;

	f->real->pMethods->xShmBarrier(f->real);
}

static int wc_shm_unmap(sqlite3_file *file, int delete_flag)
{
	struct wc_file *f = (struct wc_file *)file;

	return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int wc_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
	struct wc_file *f = (struct wc_file *)file;
	int rc = run_flush_now(f);

	return rc != SQLITE_OK ? rc
			       : f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int wc_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct wc_file *f = (struct wc_file *)file;

	return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods wc_methods = {
	.iVersion = 3,
	.xClose = wc_close,
	.xRead = wc_read,
	.xWrite = wc_write,
	.xTruncate = wc_truncate,
	.xSync = wc_sync,
	.xFileSize = wc_file_size,
	.xLock = wc_lock,
	.xUnlock = wc_unlock,
	.xCheckReservedLock = wc_check_reserved,
	.xFileControl = wc_file_control,
	.xSectorSize = wc_sector_size,
	.xDeviceCharacteristics = wc_device_characteristics,
	.xShmMap = wc_shm_map,
	.xShmLock = wc_shm_lock,
	.xShmBarrier = wc_shm_barrier,
	.xShmUnmap = wc_shm_unmap,
	.xFetch = wc_fetch,
	.xUnfetch = wc_unfetch,
};

static int wc_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file,
		   int flags, int *out_flags)
{
	struct wc_file *f = (struct wc_file *)file;
	bool combine = vfs == &wc_vfs;
	int rc;

	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	f->ra_size = f->last_end = -1;
	f->ra_next = RA_FIRST;
	f->vfs_name = vfs->zName;
	rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, out_flags);
	/* SQLite closes a file whose pMethods is set even when xOpen
	 * failed: ours must forward that close. */
	if (!f->real->pMethods)
		return rc;
	f->base.pMethods = &wc_methods;
	if (rc != SQLITE_OK)
		return rc;
	/* The methods version we forward to must have what we call. */
	if (f->real->pMethods->iVersion < 3)
		return SQLITE_OK;
	if (flags & SQLITE_OPEN_MAIN_DB) {
		f->name = name;
		pthread_mutex_lock(&files_mu);
		f->next = db_files;
		db_files = f;
		pthread_mutex_unlock(&files_mu);
	} else if ((flags & SQLITE_OPEN_WAL) && name) {
		/* The WAL's name sits in the same allocation as its database's
		 * (sqlite3_filename_database): combine and read ahead only
		 * when we hold that database's handle, whose xShm calls then
		 * flush us and end what we read ahead. */
		sqlite3_filename db = sqlite3_filename_database(name);
		pthread_mutex_lock(&files_mu);
		for (struct wc_file *d = db_files; d; d = d->next)
			if (d->name == db && !d->wal) {
				d->wal = f;
				f->db = d;
				f->combine = combine;
				f->is_wal = true;
				break;
			}
		pthread_mutex_unlock(&files_mu);
	}
	return SQLITE_OK;
}

static int wc_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return unix_vfs->xDelete(unix_vfs, name, sync_dir);
}

static int wc_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return unix_vfs->xAccess(unix_vfs, name, flags, out);
}

static int wc_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
			    char *out)
{
	(void)vfs;
	return unix_vfs->xFullPathname(unix_vfs, name, n, out);
}

static void *wc_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return unix_vfs->xDlOpen(unix_vfs, name);
}

static void wc_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	unix_vfs->xDlError(unix_vfs, n, msg);
}

static void (*wc_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return unix_vfs->xDlSym(unix_vfs, h, sym);
}

static void wc_dl_close(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	unix_vfs->xDlClose(unix_vfs, h);
}

static int wc_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xRandomness(unix_vfs, n, out);
}

static int wc_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return unix_vfs->xSleep(unix_vfs, us);
}

static int wc_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return unix_vfs->xCurrentTime(unix_vfs, out);
}

static int wc_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xGetLastError(unix_vfs, n, out);
}

static int wc_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return unix_vfs->xCurrentTimeInt64(unix_vfs, out);
}

static pthread_once_t wc_once = PTHREAD_ONCE_INIT;

static void wc_register(void)
{
	unix_vfs = sqlite3_vfs_find("unix");
	if (!unix_vfs || unix_vfs->iVersion < 2)
		return;
	wc_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct wc_file) + unix_vfs->szOsFile,
		.mxPathname = unix_vfs->mxPathname,
		.zName = "tandem-wc",
		.xOpen = wc_open,
		.xDelete = wc_delete,
		.xAccess = wc_access,
		.xFullPathname = wc_full_pathname,
		.xDlOpen = wc_dl_open,
		.xDlError = wc_dl_error,
		.xDlSym = wc_dl_sym,
		.xDlClose = wc_dl_close,
		.xRandomness = wc_randomness,
		.xSleep = wc_sleep,
		.xCurrentTime = wc_current_time,
		.xGetLastError = wc_last_error,
		.xCurrentTimeInt64 = wc_current_time64,
	};
	ra_vfs = wc_vfs;
	ra_vfs.zName = "tandem-ra";
	if (sqlite3_vfs_register(&wc_vfs, 0) != SQLITE_OK ||
	    sqlite3_vfs_register(&ra_vfs, 0) != SQLITE_OK)
		unix_vfs = NULL;
}

const char *store_vfs_name(bool writer)
{
	pthread_once(&wc_once, wc_register);
	if (!unix_vfs)
		return NULL;
	return writer ? wc_vfs.zName : ra_vfs.zName;
}
