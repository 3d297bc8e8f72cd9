"""End-to-end fixtures: real daemons on free 127.0.0.1 ports, real clients.

The `tandem` fixture gives each test a fresh data dir, config, the test CA
and every daemon that is built (tandem-imapd, tandem-pop3d, tandem-lmtpd),
with users alice/secret and bob/hunter2. Daemons' stderr is kept; a
sanitizer report in it fails the test.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TANDEM_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD

DAEMONS = {
    "imapd": BUILD / "imapd" / "tandem-imapd",
    "pop3d": BUILD / "pop3d" / "tandem-pop3d",
    "lmtpd": BUILD / "lmtp" / "tandem-lmtpd",
}
TANDEMCTL = BUILD / "tandemctl" / "tandemctl"
IS_ROOT = os.geteuid() == 0
TMP_BASE = Path(os.environ.get("TANDEM_TEST_TMP", "/tmp/tandem-tests"))

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tandem_config(dict): extra config sections for the tandem fixture")


_handed_out = set()


def free_port():
    """A free loopback port below the kernel's ephemeral range
    (net.ipv4.ip_local_port_range, 32768-60999 by default), so that no
    client connection made meanwhile can take it before the daemon binds;
    never the same port twice in one run."""
    import random
    for _ in range(1000):
        port = random.randint(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port in 20000-32000")


def _make_ca(d: Path):
    """A test CA and a server certificate for localhost, 127.0.0.1 and ::1."""
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = d / "ca.key", d / "ca.pem"
    key, csr, crt = d / "server.key", d / "server.csr", d / "server.pem"
    ext = d / "ext.cnf"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "30",
        "-subj", "/CN=Tandem Test CA")
    ext.write_text("basicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "30", "-extfile", str(ext))
    for f in (key, crt, ca_crt):
        f.chmod(0o644)
    return ca_crt, crt, key


@pytest.fixture(scope="session")
def test_ca():
    TMP_BASE.mkdir(parents=True, exist_ok=True)
    TMP_BASE.chmod(0o755)
    d = Path(tempfile.mkdtemp(prefix="ca-", dir=TMP_BASE))
    d.chmod(0o755)
    ca, crt, key = _make_ca(d)
    yield {"ca": ca, "cert": crt, "key": key}
    shutil.rmtree(d, ignore_errors=True)


def ssl_ctx(ca_file=None):
    """An SSLContext that trusts only the test CA (or, without ca_file, the
    CA of the most recent tandem fixture)."""
    ctx = ssl.create_default_context(cafile=str(ca_file or Tandem.last_ca))
    return ctx


def _children(pid):
    """The child pids of pid (a daemon's workers)."""
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _running(pid):
    """pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ini(sections):
    out = []
    for sec, kv in sections.items():
        out.append(f"[{sec}]")
        for k, v in kv.items():
            out.append(f"{k} = {v}")
        out.append("")
    return "\n".join(out)


class Tandem:
    last_ca = None

    def __init__(self, root: Path, ca, extra):
        self.root = root
        self.build = BUILD
        self.data_dir = root / "data"
        self.config_path = root / "tandem.conf"
        self.ca_file = ca["ca"]
        Tandem.last_ca = ca["ca"]
        self.imap_port, self.imaps_port = free_port(), free_port()
        self.pop3_port, self.pop3s_port = free_port(), free_port()
        self.lmtp_port = free_port()
        self.lmtp_socket = root / "lmtp.sock"
        self.procs = {}
        self.logs = {}
        user = "nobody" if IS_ROOT else ""
        group = "nogroup" if IS_ROOT else ""
        sections = {
            "server": {"data_dir": self.data_dir, "user": user, "group": group,
                       "log_level": "debug"},
            "tls": {"cert": ca["cert"], "key": ca["key"]},
            "imap": {"listen": f"127.0.0.1:{self.imap_port}",
                     "listen_tls": f"127.0.0.1:{self.imaps_port}"},
            "pop3": {"listen": f"127.0.0.1:{self.pop3_port}",
                     "listen_tls": f"127.0.0.1:{self.pop3s_port}"},
            "lmtp": {"listen": f"127.0.0.1:{self.lmtp_port} unix:{self.lmtp_socket}"},
            "auth": {"failure_delay": "100"},
        }
        # TANDEM_WORKERS=N runs every daemon with N worker processes
        # ([server] workers); a test's tandem_config marker still wins.
        if os.environ.get("TANDEM_WORKERS"):
            sections["server"]["workers"] = os.environ["TANDEM_WORKERS"]
        for sec, kv in (extra or {}).items():
            sections.setdefault(sec, {}).update(kv)
        self.config_path.write_text(_ini(sections))

    # -- admin ---------------------------------------------------------
    def ctl(self, *args, input=None, check=True):
        if not TANDEMCTL.exists():
            pytest.skip("tandemctl is not built")
        if isinstance(input, str):
            input = input.encode()
        cp = subprocess.run([str(TANDEMCTL), "-c", str(self.config_path), *map(str, args)],
                            input=input, capture_output=True, timeout=60)
        if check and cp.returncode != 0:
            raise AssertionError(f"tandemctl {' '.join(map(str, args))} exited "
                                 f"{cp.returncode}: {cp.stderr.decode(errors='replace')}")
        return cp

    def deliver(self, user, msg, mailbox=None):
        if isinstance(msg, str):
            msg = msg.encode()
        args = ["deliver", user] + ([mailbox] if mailbox else [])
        return self.ctl(*args, input=msg)

    # -- daemons -------------------------------------------------------
    def start(self, name):
        exe = DAEMONS[name]
        logf = self.root / f"{name}.log"
        since = logf.stat().st_size if logf.exists() else 0
        fh = open(logf, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        p = subprocess.Popen([str(exe), "-c", str(self.config_path)],
                             stdout=fh, stderr=subprocess.STDOUT, env=env)
        fh.close()
        self.procs[name] = p
        self.logs[name] = logf
        # Ready is the daemon's own word, in this start's part of the log:
        # "ready (config ...)", and with workers every "worker i ready"
        # (both come after the listening sockets are open). A port that
        # accepts is not: a socket of a daemon just killed can still take
        # (and then reset) a connection.
        deadline = time.time() + 15
        while True:
            with open(logf, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
            m = re.search(r" ready \(config [^\n]*?(?:, (\d+) workers)?\)\n", text)
            if m and (not m.group(1) or all(f"worker {i} ready" in text
                                             for i in range(int(m.group(1))))):
                break
            if p.poll() is not None:
                raise AssertionError(f"{name} exited {p.returncode}:\n{self.log(name)}")
            if time.time() > deadline:
                raise AssertionError(f"{name} never said ready:\n{self.log(name)}")
            time.sleep(0.02)

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        # With [server] workers the daemon is a master and its workers;
        # like systemd (KillMode=control-group) wait for all of them, so
        # a restarted daemon never meets a dying worker's socket.
        workers = _children(p.pid)
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        deadline = time.time() + 15
        while any(_running(w) for w in workers) and time.time() < deadline:
            time.sleep(0.02)
        return p.returncode

    def kill9(self, name):
        return self.stop(name, signal.SIGKILL)

    def restart(self, name):
        self.stop(name)
        self.start(name)

    def log(self, name):
        f = self.logs.get(name)
        return f.read_text(errors="replace") if f and f.exists() else ""

    def sanitizer_reports(self):
        bad = []
        for name in self.logs:
            text = self.log(name)
            if any(m in text for m in SANITIZER_MARKS):
                bad.append(f"--- {name} ---\n{text[-6000:]}")
        return bad


@pytest.fixture
def tandem_config(request):
    m = request.node.get_closest_marker("tandem_config")
    return m.args[0] if m else {}


@pytest.fixture
def tandem(test_ca, tandem_config):
    root = Path(tempfile.mkdtemp(prefix="t-", dir=TMP_BASE))
    root.chmod(0o755)
    t = Tandem(root, test_ca, tandem_config)
    try:
        if TANDEMCTL.exists():
            t.ctl("user", "add", "alice", "--password", "secret")
            t.ctl("user", "add", "bob", "--password", "hunter2")
        for name, exe in DAEMONS.items():
            if exe.exists():
                t.start(name)
        yield t
    finally:
        for name in list(t.procs):
            rc = t.stop(name)
            if rc not in (0, None, -signal.SIGKILL, -signal.SIGTERM):
                t.logs.setdefault(name, root / f"{name}.log")
        bad = t.sanitizer_reports()
        if os.environ.get("TANDEM_KEEP_TMP") is None:
            shutil.rmtree(root, ignore_errors=True)
        if bad:
            pytest.fail("sanitizer report in daemon log:\n" + "\n".join(bad))


def need(name):
    """Skips the test when a daemon or tool is not available."""
    if name in DAEMONS and not DAEMONS[name].exists():
        pytest.skip(f"{DAEMONS[name].name} is not built")
    if name not in DAEMONS and shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
