"""Throwaway real servers on 127.0.0.1 for tests, benchmarks and the demo stack.

Every server is started on a free loopback port in its own temporary directory and
stopped by PID. Nothing here talks to an address off this machine.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PG_BIN = os.environ.get("SARK_PG_BIN", "/usr/lib/postgresql/15/bin")
LOOPBACK = "127.0.0.1"


def free_port(below=None):
    """Return a TCP port on 127.0.0.1 that is free right now (optionally below a bound)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if below is None or port < below:
            return port


def free_cluster_port():
    """A port for a Redis Cluster node: it and its cluster bus port (port + 10000, so below 55536) both free right now."""
    while True:
        port = free_port(below=55000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port + 10000))
            except OSError:
                continue
        return port


def wait_for(predicate, timeout, what, interval=0.05):
    """Poll predicate() until it is true or raise TimeoutError naming what we waited for."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # pylint: disable=broad-except
            last_error = exc
        time.sleep(interval)
    raise TimeoutError("%s not ready after %.1fs (last error: %s)" % (what, timeout, last_error))


def port_open(port, host=LOOPBACK):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _listening_inodes(port):
    """Socket inodes listening on TCP `port` of any local address (Linux /proc/net/tcp[6])."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def _group_socket_inodes(pgid):
    """Socket inodes held by the processes of process group `pgid` (a server and the children it forked)."""
    inodes = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            for fd in os.listdir("/proc/%s/fd" % entry):
                target = os.readlink("/proc/%s/fd/%s" % (entry, fd))
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ValueError, IndexError):
            continue
    return inodes


def listener_is_ours(port, pgid):
    """True unless another process holds `port`: on a shared machine (xdist workers, other checkouts' tests) a port
    free when we looked can be taken before our server binds it, and the readiness probe would then talk to theirs.
    True where /proc cannot tell (not Linux)."""
    if not os.path.exists("/proc/net/tcp"):
        return True
    listening = _listening_inodes(port)
    return not listening or bool(listening & _group_socket_inodes(pgid))


class PortTaken(RuntimeError):
    """Another process listens on the port our server was given: start again on another one."""


def _signal(pid, sig):
    """Signal the process group the server leads (all started with start_new_session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop_pid(pid, timeout=10.0, sig=signal.SIGTERM):
    """Signal a process (and its group), then SIGKILL the group after timeout."""
    if not pid:
        return
    try:
        _signal(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _status = os.waitpid(pid, os.WNOHANG)
            if finished:
                return
        except ChildProcessError:
            # not our child (demo stack stopped from another process): poll for existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        _signal(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class Server:
    """A process we started; subclasses know how to start and probe it."""

    name = "server"

    def __init__(self, workdir=None, port=None):
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="sark-%s-" % self.name)
        self._fixed_port = bool(port)
        self.port = port or free_port()
        self.host = LOOPBACK
        self.pid = None
        self.proc = None
        self.log_path = os.path.join(self.workdir, "%s.log" % self.name)

    def _spawn(self, argv, env=None, cwd=None):
        log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd or self.workdir, start_new_session=True)
        log.close()
        self.pid = self.proc.pid
        return self.proc

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log_tail()))

    def stop(self):
        stop_pid(self.pid)
        self.pid = None
        self.proc = None

    def cleanup(self):
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self):
        return {"name": self.name, "host": self.host, "port": self.port, "pid": self.pid, "workdir": self.workdir}

    def __enter__(self):
        self.start_on_free_port()
        return self

    def start_on_free_port(self, attempts=3):
        """start(); when another process took our port in the meantime, start again on another free port
        (unless the port was chosen by the caller)."""
        for attempt in range(attempts):
            try:
                return self.start()
            except (RuntimeError, TimeoutError) as exc:  # PortTaken, or our server exited because it could not bind
                if "address already in use" not in str(exc).lower():
                    raise
                self.stop()
                if self._fixed_port or attempt == attempts - 1:
                    raise
                self.port = free_port()
        return self

    def check_listener(self):
        """Raise PortTaken if the process listening on self.port is not the one we started."""
        if self.pid and not listener_is_ours(self.port, self.pid):
            raise PortTaken("Address already in use: port %d is held by another process, not our %s (pid %s)"
                            % (self.port, self.name, self.pid))

    def __exit__(self, *exc):
        self.cleanup()

    def start(self):
        raise NotImplementedError


TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def answers_http(url):
    """True once anything answers HTTP at url (any status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=1):  # nosec - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Simulator(Server):
    """A `python -m harness.<name>` simulator: spawned with the tests directory on PYTHONPATH, ready once its URLs answer."""

    def spawn_module(self, args, env=None):
        """Launch `python -m harness.<name> <args>` with the tests directory on PYTHONPATH plus env."""
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join([TESTS_DIR] + [p for p in [full_env.get("PYTHONPATH")] if p])
        full_env.update(env or {})
        return self._spawn([sys.executable, "-m", "harness.%s" % self.name] + list(args), env=full_env)

    def wait_answering(self, urls, timeout, what):
        """Wait until every URL answers HTTP; fail at once with the log tail when the process exits."""
        def ready():
            self._check_alive()
            return all(answers_http(url) for url in urls)
        wait_for(ready, timeout, "%s (%s) on %s" % (self.name, getattr(self, "layout", "-"), what))
        return self


class RedisServer(Server):
    """redis-server with optional password, ACL users, TLS and cluster mode."""

    name = "redis"

    def __init__(self, workdir=None, port=None, password=None, acl_users=None, tls=None,
                 cluster=False, extra_args=None, binary="redis-server"):
        super().__init__(workdir, port)
        self.password = password
        self.acl_users = acl_users or []  # list of ACL rule strings, e.g. "ops on >pw ~* +@all"
        self.tls = tls  # dict(cert=, key=, ca=) -> TLS only, plain port disabled
        self.cluster = cluster
        self.extra_args = list(extra_args or [])
        self.binary = binary

    def argv(self):
        argv = [self.binary, "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
                "--dir", self.workdir, "--protected-mode", "no", "--daemonize", "no"]
        if self.tls:
            argv += ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", self.tls["cert"], "--tls-key-file", self.tls["key"],
                     "--tls-ca-cert-file", self.tls["ca"], "--tls-auth-clients", self.tls.get("auth_clients", "optional")]
        else:
            argv += ["--port", str(self.port)]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", os.path.join(self.workdir, "nodes.conf"),
                     # no replicas, so no failover to speed up: a short timeout only lets a loaded machine mark a
                     # slow primary failed and the whole cluster down in the middle of a test
                     "--cluster-node-timeout", "15000"]
        for rule in self.acl_users:
            argv += ["--user"] + rule.split()
        return argv + self.extra_args

    def start(self):
        self._spawn(self.argv())

        def ready():
            self._check_alive()
            return port_open(self.port)
        wait_for(ready, 10, "redis-server on port %d" % self.port)
        self.check_listener()
        if "--appendonly" in self.extra_args:
            wait_for(self._loaded, 60, "redis-server on port %d to load its data" % self.port, interval=0.1)
        return self

    def _loaded(self):
        import redis  # pylint: disable=import-outside-toplevel
        try:
            return bool(self.client(socket_timeout=2).ping())
        except redis.exceptions.BusyLoadingError:
            return False

    def kill(self):
        """SIGKILL the server (a crash: no shutdown save); the data survives only with appendonly/appendfsync always."""
        stop_pid(self.pid, timeout=0, sig=signal.SIGKILL)
        self.pid = None
        self.proc = None

    def restart(self, password=None, kill=False):
        """Stop (or kill) and start again on the same port and directory, optionally with another password."""
        if kill:
            self.kill()
        else:
            self.stop()
        if password is not None:
            self.password = password or None
        wait_for(lambda: not port_open(self.port), 10, "port %d to close" % self.port)
        return self.start()

    def client(self, **kwargs):
        import redis  # pylint: disable=import-outside-toplevel
        params = dict(host=LOOPBACK, port=self.port, password=self.password, decode_responses=False)
        params.update(kwargs)
        return redis.Redis(**params)


class RedisCluster:
    """A real local Redis Cluster of N primaries (no replicas), each its own redis-server."""

    name = "redis-cluster"

    def __init__(self, primaries=3, workdir=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="sark-redis-cluster-")
        self.nodes = [RedisServer(workdir=os.path.join(self.workdir, "n%d" % i), cluster=True, port=free_cluster_port())
                      for i in range(primaries)]

    def start(self):
        for node in self.nodes:
            os.makedirs(node.workdir, exist_ok=True)
            for attempt in range(5):
                try:
                    node.start()
                    break
                except (TimeoutError, RuntimeError) as exc:
                    # another process (the machine is shared) took the port or its bus port since we looked: take others
                    if "Address already in use" not in str(exc) or attempt == 4:
                        raise
                    node.stop()
                    for stale in ("nodes.conf",):
                        if os.path.exists(os.path.join(node.workdir, stale)):
                            os.unlink(os.path.join(node.workdir, stale))
                    node.port = free_cluster_port()
        addrs = ["%s:%d" % (LOOPBACK, n.port) for n in self.nodes]
        out = subprocess.run(["redis-cli", "--cluster", "create"] + addrs + ["--cluster-yes"],
                             capture_output=True, text=True, timeout=60, check=False)
        if out.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed: %s %s" % (out.stdout, out.stderr))

        def converged():  # every node, not only the first, must see all slots served
            return all("cluster_state:ok" in subprocess.run(["redis-cli", "-p", str(node.port), "cluster", "info"],
                                                            capture_output=True, text=True, timeout=5, check=False).stdout
                       for node in self.nodes)
        wait_for(converged, 20, "redis cluster state ok", interval=0.2)
        return self

    @property
    def port(self):
        return self.nodes[0].port

    def stop(self):
        for node in self.nodes:
            node.stop()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def make_tls_material(directory, common_name="127.0.0.1"):
    """Generate a self-signed CA plus a server and a client certificate with openssl."""
    os.makedirs(directory, exist_ok=True)
    paths = {k: os.path.join(directory, k + ".pem") for k in
             ("ca", "ca_key", "cert", "key", "client_cert", "client_key")}

    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=sark-ops-test-ca", "-keyout", paths["ca_key"], "-out", paths["ca"])
    ext = os.path.join(directory, "san.ext")
    with open(ext, "w", encoding="utf-8") as handle:
        handle.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cert, key, cn in (("cert", "key", common_name), ("client_cert", "client_key", "sark-ops-client")):
        csr = os.path.join(directory, cert + ".csr")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % cn,
            "-keyout", paths[key], "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", paths["ca"], "-CAkey", paths["ca_key"],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", paths[cert])
    return paths


class PostgresServer(Server):
    """A throwaway PostgreSQL 15 cluster run as the postgres OS user (initdb refuses root)."""

    name = "postgres"

    def __init__(self, workdir=None, port=None, superuser="postgres", password=None, settings=None,
                 primary=None, auth="trust"):
        super().__init__(workdir, port)
        # a replica is a copy of its primary: same superuser, same password
        self.superuser = primary.superuser if primary is not None else superuser
        self.password = password if password is not None or primary is None else primary.password
        self.settings = dict(settings or {})
        self.primary = primary  # PostgresServer to stream from (creates a replica with pg_basebackup)
        self.auth = auth
        self.datadir = os.path.join(self.workdir, "data")
        self.socket_dir = self.workdir

    def _as_postgres(self, argv, **kwargs):
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120, **kwargs)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (rc=%s): %s%s (the postgres user must be able to traverse %s)"
                               % (os.path.basename(argv[4] if argv[0] == "runuser" else argv[0]), proc.returncode,
                                  proc.stdout, proc.stderr, self.workdir))
        return proc

    def _prepare_dir(self):
        os.makedirs(self.workdir, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
            # the socket dir is also the work dir: make it traversable for the test user
            os.chmod(self.workdir, 0o755)

    def initdb(self):
        self._prepare_dir()
        if self.primary is not None:
            env = dict(os.environ)
            if self.primary.password:
                env["PGPASSWORD"] = self.primary.password
            self._as_postgres([os.path.join(PG_BIN, "pg_basebackup"), "-h", LOOPBACK, "-p", str(self.primary.port),
                               "-U", self.primary.superuser, "-D", self.datadir, "-R", "-X", "stream",
                               "-c", "fast"], env=env)
            return
        argv = [os.path.join(PG_BIN, "initdb"), "-D", self.datadir, "-U", self.superuser, "-E", "UTF8",
                "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=%s" % self.auth]
        pwfile = None
        if self.password:
            pwfile = os.path.join(self.workdir, "pwfile")
            with open(pwfile, "w", encoding="utf-8") as handle:
                handle.write(self.password + "\n")
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres", "postgres")
            argv += ["--pwfile", pwfile]
        self._as_postgres(argv)
        if pwfile:
            os.unlink(pwfile)
        with open(os.path.join(self.datadir, "pg_hba.conf"), "a", encoding="utf-8") as handle:
            handle.write("host replication all 127.0.0.1/32 %s\n" % self.auth)

    def start(self):
        if not os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            self.initdb()
        opts = {"listen_addresses": LOOPBACK, "port": self.port, "unix_socket_directories": self.socket_dir,
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "wal_level": "replica", "max_wal_senders": 5, "hot_standby": "on"}
        opts.update(self.settings)
        argv = [os.path.join(PG_BIN, "postgres"), "-D", self.datadir]
        for key, value in opts.items():
            argv += ["-c", "%s=%s" % (key, value)]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        self._spawn(argv)

        def ready():
            self._check_alive()
            return subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", LOOPBACK, "-p", str(self.port), "-q"],
                                  check=False).returncode == 0
        wait_for(ready, 30, "postgres on port %d" % self.port, interval=0.1)
        self.check_listener()
        return self

    def stop(self):
        # SIGINT is PostgreSQL's "fast" shutdown; it reaches the postmaster through the group.
        stop_pid(self.pid, timeout=20, sig=signal.SIGINT)
        self.pid = None
        self.proc = None

    def dsn(self, dbname="postgres", user=None, password=None):
        parts = ["host=%s" % LOOPBACK, "port=%d" % self.port, "dbname=%s" % dbname,
                 "user=%s" % (user or self.superuser)]
        if password or (user is None and self.password):
            parts.append("password=%s" % (password or self.password))
        return " ".join(parts)

    def connect(self, dbname="postgres", autocommit=True, **kwargs):
        import psycopg2  # pylint: disable=import-outside-toplevel
        conn = psycopg2.connect(self.dsn(dbname, **kwargs))
        conn.autocommit = autocommit
        return conn

    def query(self, dbname, sql, params=None, fetch="all"):
        """Run one statement on dbname, autocommit; fetch = all | one | None."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                if fetch == "all":
                    return cur.fetchall()
                return cur.fetchone() if fetch == "one" else None
        finally:
            conn.close()

    def execute(self, sql, dbname="postgres", params=None, fetch=False):
        return self.query(dbname, sql, params, fetch="all" if fetch else None)

    def create_database(self, name, template="template0"):
        from psycopg2 import sql  # pylint: disable=import-outside-toplevel
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        finally:
            conn.close()


def _http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # nosec - loopback only
            return resp.status == 200
    except OSError:
        return False


class PrometheusServer(Server):
    name = "prometheus"

    def __init__(self, workdir=None, port=None, rule_files=None, alertmanager_port=None,
                 scrape_targets=None, eval_interval="1s", scrape_configs=None, scrape_interval="1s", extra_args=None):
        super().__init__(workdir, port)
        self.rule_files = list(rule_files or [])
        self.alertmanager_port = alertmanager_port
        self.scrape_targets = list(scrape_targets or [])
        self.eval_interval = eval_interval
        self.scrape_interval = scrape_interval
        # more jobs, e.g. [{"job_name": "sark-api", "static_configs": [{"targets": ["127.0.0.1:8000"]}]}]
        self.scrape_configs = list(scrape_configs or [])
        self.extra_args = list(extra_args or [])
        # blocks put here before start() (promtool tsdb create-blocks-from ...) are loaded at start
        self.data_dir = os.path.join(self.workdir, "data")

    def write_config(self):
        import yaml  # pylint: disable=import-outside-toplevel
        config = {"global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.eval_interval},
                  "rule_files": self.rule_files,
                  "scrape_configs": [{"job_name": "prometheus",
                                      "static_configs": [{"targets": ["%s:%d" % (LOOPBACK, self.port)] + self.scrape_targets}]}]
                  + self.scrape_configs}
        if self.alertmanager_port:
            config["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": ["%s:%d" % (LOOPBACK, self.alertmanager_port)]}]}]}
        path = os.path.join(self.workdir, "prometheus.yml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        return path

    def start(self):
        config = self.write_config()
        self._spawn(["prometheus", "--config.file=%s" % config,
                     "--storage.tsdb.path=%s" % self.data_dir,
                     "--web.listen-address=%s:%d" % (LOOPBACK, self.port),
                     "--rules.alert.resend-delay=1s", "--web.enable-lifecycle"] + self.extra_args)
        url = "http://%s:%d/-/ready" % (LOOPBACK, self.port)

        def ready():
            self._check_alive()
            return _http_ok(url)
        wait_for(ready, 20, "prometheus on port %d" % self.port)
        return self

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)


class AlertmanagerServer(Server):
    name = "alertmanager"

    def __init__(self, workdir=None, port=None, webhook_url=None):
        super().__init__(workdir, port)
        self.webhook_url = webhook_url

    def write_config(self):
        import yaml  # pylint: disable=import-outside-toplevel
        receiver = {"name": "default"}
        if self.webhook_url:
            receiver["webhook_configs"] = [{"url": self.webhook_url, "send_resolved": True}]
        config = {"route": {"receiver": "default", "group_wait": "0s", "group_interval": "1s",
                            "repeat_interval": "1h"},
                  "receivers": [receiver]}
        path = os.path.join(self.workdir, "alertmanager.yml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        return path

    def start(self):
        config = self.write_config()
        self._spawn(["prometheus-alertmanager", "--config.file=%s" % config,
                     "--storage.path=%s" % os.path.join(self.workdir, "data"),
                     "--web.listen-address=%s:%d" % (LOOPBACK, self.port),
                     "--cluster.listen-address="])
        url = "http://%s:%d/-/ready" % (LOOPBACK, self.port)

        def ready():
            self._check_alive()
            return _http_ok(url)
        wait_for(ready, 20, "alertmanager on port %d" % self.port)
        return self

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)


class S3Server(Server):
    """An S3-compatible server: moto's server mode (``python -m moto.server``), in-memory, on 127.0.0.1.

    It takes any credentials; give clients access_key/secret_key/region anyway, as against real S3."""

    name = "s3"
    access_key = "sark-demo-access-key"
    secret_key = "sark-demo-secret-key"  # nosec - a local test server's dummy credential
    region = "us-east-1"

    def start(self):
        import sys  # pylint: disable=import-outside-toplevel
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        self._spawn([sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)], env=env)

        def ready():
            self._check_alive()
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):  # nosec - loopback only
                    return True
            except OSError:
                return False
        wait_for(ready, 30, "moto S3 server on port %d" % self.port, interval=0.1)
        self.check_listener()
        return self

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def client(self):
        import boto3  # pylint: disable=import-outside-toplevel
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region)

    def connection(self):
        """amazon.aws module options for this server (the daily check's sark_s3_connection)."""
        return {"endpoint_url": self.url, "access_key": self.access_key, "secret_key": self.secret_key,
                "region": self.region}
