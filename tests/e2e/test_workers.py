"""[server] workers = N: each daemon forks N worker processes accepting on
SO_REUSEPORT sockets. What the daemon promises as a whole must hold across
them: the per-IP and per-user limits, the stats and metrics totals,
tandemctl who/kick, IDLE seeing changes made in another worker, and a
worker that dies is restarted while the others keep serving."""
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import DAEMONS, need
from test_imap_fetch import MSG1, Raw, tagged
from test_imap_idle import start_idle, stop_idle, wait_for as wait_line
from test_ops_control import control_ask, http, metrics_port, read_to_eof, stats, wait_for

WORKERS = 3
pytestmark = pytest.mark.tandem_config({"server": {"workers": str(WORKERS)}})


# ---- helpers -----------------------------------------------------------------

def control_sockets(t, daemon="imapd"):
    """Every worker's control socket of daemon, once all are up."""
    d = t.data_dir / "control"

    def all_up():
        socks = [d / f"{daemon}.sock"] + [d / f"{daemon}.w{i}.sock"
                                           for i in range(1, WORKERS)]
        return socks if all(p.is_socket() for p in socks) else None
    return wait_for(all_up, f"{WORKERS} control sockets of {daemon}")


def ask(path, req):
    return control_ask(path, req).decode()


def who_raw(t, daemon="imapd"):
    """{client port: serving pid} over every worker's socket (the WHO
    protocol's last field is the pid)."""
    out = {}
    for p in control_sockets(t, daemon):
        for line in ask(p, b"WHO\n").splitlines():
            if line.startswith("S\t"):
                f = line.split("\t")
                out[int(f[4])] = int(f[8])
    return out


def alive(pid):
    """pid runs (not gone, not a zombie waiting for its reaper)."""
    try:
        st = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


def worker_pids(t, daemon="imapd"):
    """The running children of daemon's master (its workers)."""
    master = t.procs[daemon].pid
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        state, ppid = st.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == master and state != "Z":
            pids.append(int(d))
    return sorted(pids)


def close(r):
    """Closes a Raw (its socket and the file reading it: the fd stays
    open while either does)."""
    r.f.close()
    r.s.close()


def port_of(r):
    return r.s.getsockname()[1]


def spread_sessions(t, n, user="alice", pw="secret"):
    """n logged-in sessions and the worker pid of each."""
    rs = [Raw(t, user, pw) for _ in range(n)]
    where = wait_for(lambda: (lambda w: w if all(port_of(r) in w for r in rs)
                              else None)(who_raw(t)), "every session in WHO")
    return rs, [where[port_of(r)] for r in rs]


def sessions_on_two_workers(t, n, user="alice", pw="secret"):
    """n sessions of user, logged in, on at least two workers, and the
    worker pid of each. The kernel hashes each connection to a worker,
    so a few may all land on one: connections are opened (WHO lists them
    before LOGIN) until one is elsewhere, and the extra ones closed before
    anyone logs in."""
    rs, where = [], []
    for _ in range(40):
        r = Raw(t, user=None)
        pid = wait_for(lambda: who_raw(t).get(port_of(r)), "session in WHO")
        rs.append(r)
        where.append(pid)
        if len(set(where)) >= 2 and len(rs) >= n:
            break
    else:
        pytest.fail("40 connections all went to one worker")
    # keep the last one (on another worker than the first) and n-1 others
    keep = [len(rs) - 1] + list(range(n - 1))
    for i, r in enumerate(rs):
        if i not in keep:
            close(r)
    rs, where = [rs[i] for i in keep], [where[i] for i in keep]
    for r in rs:
        assert tagged(r.cmd(f"LOGIN {user} {pw}")) == b"OK"
    return rs, where


# ---- the processes -----------------------------------------------------------

def test_master_forks_the_workers_and_connections_spread(tandem):
    t = tandem
    pids = wait_for(lambda: (lambda p: p if len(p) == WORKERS else None)(
        worker_pids(t)), f"{WORKERS} workers")
    assert t.procs["imapd"].pid not in pids
    rs, served = spread_sessions(t, 12)
    # 12 connections hashed over 3 sockets: all on one has odds 3^-11
    assert len(set(served)) >= 2, served
    assert set(served) <= set(pids)
    for r in rs:
        assert tagged(r.cmd("NOOP")) == b"OK"
        close(r)
    assert f"{WORKERS} workers" in t.log("imapd")


def test_killed_worker_is_restarted_and_the_others_keep_serving(tandem):
    t = tandem
    a, b = sessions_on_two_workers(t, 2)[0]
    where = who_raw(t)
    victim, survivor = where[port_of(a)], where[port_of(b)]
    b.cmd("SELECT INBOX")
    before = set(worker_pids(t))
    os.kill(victim, signal.SIGKILL)
    # a's worker is gone: its connection closes
    assert read_to_eof(a.f) == []
    # b's worker goes on
    assert tagged(b.cmd("NOOP")) == b"OK"
    now = wait_for(lambda: (lambda p: p if len(p) == WORKERS and victim not in p
                            else None)(set(worker_pids(t))),
                   "the killed worker replaced")
    assert survivor in now and len(now - before) == 1
    assert "killed by signal 9; restarting" in t.log("imapd")
    # the dead worker's session is no longer counted
    wait_for(lambda: stats(t)["imapd"]["connections"] == 1, "connections == 1")
    # and new connections are served, by the new worker too
    rs, served = spread_sessions(t, 12)
    assert len(set(served)) >= 2
    for r in rs:
        close(r)
    close(b)


def test_master_sigterm_stops_every_worker(tandem):
    t = tandem
    pids = wait_for(lambda: (lambda p: p if len(p) == WORKERS else None)(
        worker_pids(t)), f"{WORKERS} workers")
    r = Raw(t)
    assert t.stop("imapd") == 0
    assert not any(alive(p) for p in pids)
    read_to_eof(r.f)  # the session's worker closed it
    close(r)


def test_sigterm_as_soon_as_the_port_accepts(tandem):
    """A SIGTERM that arrives while the master is still forking (the
    listening sockets already accept) stops the daemon, workers and all:
    it must not be swallowed by a handler of a loop the master never runs."""
    t = tandem
    t.stop("imapd")
    exe = str(DAEMONS["imapd"])
    for _ in range(5):
        p = subprocess.Popen([exe, "-c", str(t.config_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while True:
            assert p.poll() is None, f"imapd exited {p.returncode}"
            try:
                socket.create_connection(("127.0.0.1", t.imap_port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "imapd never listened"
                time.sleep(0.0005)
        p.send_signal(signal.SIGTERM)
        try:
            assert p.wait(timeout=10) == 0
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            pytest.fail("the daemon ignored a SIGTERM sent right after it listened")
        # the master exits after its workers: nothing listens any more
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", t.imap_port), timeout=5).close()
    t.start("imapd")


def test_workers_die_with_the_master(tandem):
    t = tandem
    pids = wait_for(lambda: (lambda p: p if len(p) == WORKERS else None)(
        worker_pids(t)), f"{WORKERS} workers")
    t.kill9("imapd")
    wait_for(lambda: not any(alive(p) for p in pids),
             "workers gone after the master's SIGKILL")
    # and the port is free for a new daemon
    t.start("imapd")
    r = Raw(t)
    assert tagged(r.cmd("NOOP")) == b"OK"
    close(r)


# ---- limits ------------------------------------------------------------------

def greeting(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    return s, f, f.readline()


@pytest.mark.tandem_config({"server": {"workers": str(WORKERS)},
                            "limits": {"max_connections_per_ip": "10"}})
def test_per_ip_limit_is_the_daemons(tandem):
    t = tandem
    held = [greeting(t.imap_port) for _ in range(10)]
    assert all(g.startswith(b"* OK") for _, _, g in held)
    for _ in range(3):
        s, f, g = greeting(t.imap_port)
        assert g.startswith(b"* BYE "), g
        f.close()
        s.close()
    # the 10 were spread over the workers, and the limit held anyway
    for s, f, _ in held:
        s.sendall(b"a LOGIN alice secret\r\n")
        assert f.readline().startswith(b"a OK")
    where = who_raw(t)
    assert len({where[s.getsockname()[1]] for s, _, _ in held}) >= 2
    # one leaves: exactly one place frees, whichever worker takes it
    s0, f0, _ = held.pop()
    f0.close()
    s0.close()
    wait_for(lambda: stats(t)["imapd"]["connections"] == 9, "9 connections")
    s, f, g = greeting(t.imap_port)
    assert g.startswith(b"* OK")
    s2, f2, g2 = greeting(t.imap_port)
    assert g2.startswith(b"* BYE ")
    for x, fx in ((s, f), (s2, f2)):
        fx.close()
        x.close()
    for s, f, _ in held:
        f.close()
        s.close()


@pytest.mark.tandem_config({"server": {"workers": str(WORKERS)},
                            "limits": {"max_connections_per_user": "6"}})
def test_per_user_limit_is_the_daemons(tandem):
    t = tandem
    rs, served = sessions_on_two_workers(t, 6)
    assert len(set(served)) >= 2, served
    for _ in range(3):
        r = Raw(t, user=None)
        out = r.cmd("LOGIN alice secret")
        assert out[-1].startswith(b"X1 NO [LIMIT]"), out
        # another user is not affected
        assert tagged(r.cmd("LOGIN bob hunter2")) == b"OK"
        close(r)
    rs.pop().cmd("LOGOUT")
    wait_for(lambda: stats(t)["imapd"]["connections"] == 5, "5 connections")
    r = Raw(t, user=None)
    assert tagged(r.cmd("LOGIN alice secret")) == b"OK"
    r2 = Raw(t, user=None)
    assert r2.cmd("LOGIN alice secret")[-1].startswith(b"X1 NO [LIMIT]")
    for x in rs + [r, r2]:
        close(x)


@pytest.mark.tandem_config({"server": {"workers": str(WORKERS)},
                            "pop3": {"lock": "no"},
                            "limits": {"max_connections_per_user": "4"}})
def test_per_user_limit_pop3(tandem):
    need("pop3d")
    import poplib
    held = []
    for _ in range(4):
        p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
        p.user("bob")
        p.pass_("hunter2")
        held.append(p)
    q = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    q.user("bob")
    with pytest.raises(poplib.error_proto) as e:
        q.pass_("hunter2")
    assert e.value.args[0].startswith(b"-ERR [SYS/TEMP]")
    held.pop().quit()
    wait_for(lambda: stats(tandem)["pop3d"]["connections"] == 4,
             "4 pop3 connections")
    q.user("bob")
    q.pass_("hunter2")
    for p in held + [q]:
        p.quit()


# ---- admin -------------------------------------------------------------------

def test_stats_and_metrics_are_daemon_totals(tandem):
    t = tandem
    control_sockets(t)
    before = stats(t)["imapd"]
    rs, served = spread_sessions(t, 9)
    assert len(set(served)) >= 2
    for r in rs:
        r.cmd("NOOP")
    bad = Raw(t, user=None)
    assert tagged(bad.cmd("LOGIN alice wrong")) == b"NO"
    now = stats(t)["imapd"]
    assert now["connections"] == 10
    assert now["connections_total"] - before["connections_total"] == 10
    assert now["logins"] - before["logins"] == 9
    assert now["auth_failures"] - before["auth_failures"] == 1
    # LOGIN + NOOP per session, LOGIN for the bad one
    assert now["commands"] - before["commands"] == 19
    assert now["workers"] == WORKERS
    # every worker's socket answers the same totals
    for p in control_sockets(t):
        st = dict(l.split(" ", 1) for l in ask(p, b"STATS\n").splitlines()
                  if " " in l)
        assert int(st["logins"]) == now["logins"]
    for r in rs + [bad]:
        close(r)
    wait_for(lambda: stats(t)["imapd"]["connections"] == 0, "all closed")


@pytest.mark.tandem_config({"server": {"workers": str(WORKERS),
                                       "metrics_listen": "127.0.0.1:0"}})
def test_metrics_are_daemon_totals(tandem):
    t = tandem
    rs, served = spread_sessions(t, 9)
    assert len(set(served)) >= 2
    port = metrics_port(t, "imapd")
    status, _, body = http(port, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert status == "HTTP/1.0 200 OK"
    body = body.decode()
    st = stats(t)["imapd"]

    def value(name):
        m = re.search(rf'^{name}{{daemon="imapd"}} (\d+)$', body, re.M)
        return int(m.group(1))
    assert value("tandem_connections") == 9 == st["connections"]
    assert value("tandem_logins_total") == st["logins"] >= 9
    assert value("tandem_workers") == WORKERS
    for r in rs:
        close(r)


def test_who_and_kick_reach_every_worker(tandem):
    t = tandem
    rs, served = spread_sessions(t, 9)
    assert len(set(served)) >= 2
    out = t.ctl("who", "alice").stdout.decode().splitlines()
    assert len(out) == 1 + 9
    out = t.ctl("kick", "alice").stdout.decode()
    assert out.strip() == "kicked 9 session(s) of alice (imapd 9)"
    for r in rs:
        assert any(l.startswith(b"* BYE") for l in read_to_eof(r.f))
        close(r)
    wait_for(lambda: len(t.ctl("who").stdout.decode().splitlines()) <= 1,
             "nobody left")


# ---- changes made through another worker ------------------------------------

def test_idle_sees_changes_made_in_another_worker(tandem):
    t = tandem
    for _ in range(2):
        t.deliver("alice", MSG1)
    r, o = sessions_on_two_workers(t, 2)[0]
    where = who_raw(t)
    assert where[port_of(r)] != where[port_of(o)]
    r.cmd("SELECT INBOX")
    o.cmd("SELECT INBOX")
    tag = start_idle(r)
    # APPEND in the other worker
    o.s.sendall(b"A1 APPEND INBOX {%d}\r\n" % len(MSG1))
    assert o.f.readline().startswith(b"+")
    o.s.sendall(MSG1 + b"\r\n")
    assert wait_line(o, lambda l: l.startswith(b"A1 "))[-1].startswith(b"A1 OK")
    wait_line(r, lambda l: l == b"* 3 EXISTS\r\n")
    # STORE
    o.cmd("STORE 2 +FLAGS (\\Flagged)")
    wait_line(r, lambda l: l.startswith(b"* 2 FETCH") and b"\\Flagged" in l)
    # EXPUNGE
    o.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    o.cmd("EXPUNGE")
    wait_line(r, lambda l: l == b"* 1 EXPUNGE\r\n")
    # an LMTP delivery (lmtpd has its own workers)
    need("lmtpd")
    with smtplib.LMTP("127.0.0.1", t.lmtp_port, timeout=30) as l:
        l.sendmail("sender@example.org", ["alice"], MSG1)
    wait_line(r, lambda l: l == b"* 3 EXISTS\r\n")
    stop_idle(r, tag)
    close(r)
    close(o)


def test_lmtp_and_pop3_workers_serve(tandem):
    need("lmtpd")
    need("pop3d")
    import poplib
    for i in range(6):
        with smtplib.LMTP("127.0.0.1", tandem.lmtp_port, timeout=30) as l:
            l.sendmail("sender@example.org", ["bob"], MSG1)
    with smtplib.LMTP(str(tandem.lmtp_socket), timeout=30) as l:
        l.sendmail("sender@example.org", ["bob"], MSG1)
    st = stats(tandem)
    assert st["lmtpd"]["deliveries_ok"] == 7
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.user("bob")
    p.pass_("hunter2")
    assert p.stat()[0] == 7
    p.quit()


def login_sids(t):
    return re.findall(r"imap sid=(\d+) rip=\S+ user=alice: login method=",
                      t.log("imapd"))


def test_session_ids_are_the_daemons(tandem):
    """The log's sid= names one session in the whole daemon: workers (and
    a worker restarted in the same slot) never give out the same one, so
    a log that files every worker's lines under one name (journald: the
    master's pid) still tells sessions apart."""
    t = tandem
    rs, served = spread_sessions(t, 12)
    assert len(set(served)) >= 2, served
    victim = served[0]
    for r in rs:
        close(r)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: (lambda p: p if len(p) == WORKERS and victim not in p
                      else None)(set(worker_pids(t))), "the worker replaced")
    rs, served = spread_sessions(t, 12)
    for r in rs:
        close(r)
    sids = wait_for(lambda: (lambda s: s if len(s) == 24 else None)(
        login_sids(t)), "24 logins in the log")
    assert len(set(sids)) == 24, sorted(sids)
