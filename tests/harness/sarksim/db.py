"""A small blocking PostgreSQL pool: psycopg2's ThreadedConnectionPool behind a semaphore.

ThreadedConnectionPool raises instead of waiting when every connection is out, and closes
connections returned above `minconn`; so the pool keeps minconn == maxconn connections and a
semaphore makes callers wait their turn. The pool is built on first use, so the simulator
starts (and reports the database unhealthy) while PostgreSQL is down.
"""

import contextlib
import threading
import time

import psycopg2
import psycopg2.pool

# Connections that this error class hits are discarded rather than returned to the pool.
BROKEN_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class Database:
    """A pool of connections to one database."""

    def __init__(self, dsn, size=10, connect_timeout=3, acquire_timeout=30.0):
        self.dsn = dsn
        self.size = size
        self.connect_timeout = connect_timeout
        self.acquire_timeout = acquire_timeout
        self._pool = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def _get_pool(self):
        with self._lock:
            if self._pool is None:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    self.size, self.size, self.dsn, connect_timeout=self.connect_timeout,
                    application_name="sarksim")
            return self._pool

    @contextlib.contextmanager
    def connection(self, autocommit=False):
        """A pooled connection inside a transaction that commits on success and rolls back on error.

        autocommit=True is for one statement (an INSERT ... RETURNING is atomic on its own): psycopg2 then
        sends no BEGIN and no COMMIT, one round trip instead of three; the hot write paths use it.
        """
        if not self._slots.acquire(timeout=self.acquire_timeout):  # pylint: disable=consider-using-with
            raise psycopg2.OperationalError("no database connection free after %.0fs" % self.acquire_timeout)
        pool = None
        conn = None
        broken = False
        try:
            pool = self._get_pool()
            conn = pool.getconn()
            try:
                conn.autocommit = autocommit  # every use says which it wants: no reset before putconn
                yield conn
                if not autocommit:
                    conn.commit()
            except BaseException as exc:
                broken = isinstance(exc, BROKEN_ERRORS) or conn.closed != 0
                if not broken:
                    try:
                        conn.rollback()
                    except BROKEN_ERRORS:
                        broken = True
                raise
        finally:
            if conn is not None:
                pool.putconn(conn, close=broken or conn.closed != 0)
                if broken:
                    # a lost connection usually means the server restarted: the idle ones are stale too
                    self.discard_idle()
            self._slots.release()

    def ping(self):
        """(healthy, latency_ms, error) of a `SELECT 1`, retried once on a stale pooled connection."""
        start = time.monotonic()
        error = None
        for _attempt in range(2):
            try:
                with self.connection() as conn:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
                        cur.fetchone()
                return True, (time.monotonic() - start) * 1000.0, None
            except psycopg2.Error as exc:
                error = str(exc).strip() or exc.__class__.__name__
        return False, (time.monotonic() - start) * 1000.0, error

    def discard_idle(self):
        """Close the idle pooled connections so that the next users reconnect."""
        with self._lock:
            pool = self._pool
            if pool is None:
                return
            with pool._lock:  # pylint: disable=protected-access
                idle = list(pool._pool)  # pylint: disable=protected-access
                del pool._pool[:]  # pylint: disable=protected-access
        for conn in idle:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def close(self):
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None
