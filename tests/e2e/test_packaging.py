"""Packaging: what `meson install` lays down, and that it is well formed.

- the installed file list (units, sysusers.d, tmpfiles.d, man pages, the
  sample config, the fail2ban filter, the binaries that are built);
- systemd-analyze verify accepts every unit;
- every man page renders without a groff or man warning;
- tandem.conf(5) and the sample packaging/tandem.conf name every key of
  core/config.c with the default config_init gives it;
- the fail2ban filter matches the auth-failure lines and nothing else;
- (TANDEM_SLOW_TESTS=1) the Debian packages build, pass lintian, install,
  and the installed daemons let a user log in over IMAP and POP3.

Environment: TANDEM_BUILD names the meson build dir (default "build").
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"
BUILD = Path(os.environ.get("TANDEM_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = (Path.cwd() / BUILD) if (Path.cwd() / BUILD).exists() else ROOT / BUILD

# name -> (meson subdir in the build tree, install dir option)
BINARIES = {
    "tandem-imapd": ("imapd", "sbindir"),
    "tandem-pop3d": ("pop3d", "sbindir"),
    "tandem-lmtpd": ("lmtp", "sbindir"),
    "tandem-deliver": ("lmtp", "bindir"),
    "tandemctl": ("tandemctl", "sbindir"),
}
UNITS = ["tandem-imapd.service", "tandem-pop3d.service", "tandem-lmtpd.service",
         "tandem-imapd.socket", "tandem-imapd-tls.socket",
         "tandem-pop3d.socket", "tandem-pop3d-tls.socket", "tandem-lmtpd.socket"]
MANPAGES = ["man8/tandem-imapd.8", "man8/tandem-pop3d.8", "man8/tandem-lmtpd.8",
            "man8/tandemctl.8", "man1/tandem-deliver.1", "man5/tandem.conf.5"]


def have(prog):
    return shutil.which(prog) is not None


def build_options():
    if not (BUILD / "meson-info").is_dir():
        pytest.skip(f"no meson build dir at {BUILD} (set TANDEM_BUILD)")
    out = subprocess.run(["meson", "introspect", "--buildoptions", str(BUILD)],
                         check=True, capture_output=True, text=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


def built_binaries():
    return {n: BUILD / sub / n for n, (sub, _) in BINARIES.items()
            if (BUILD / sub / n).is_file()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Runs `meson install --destdir` once; returns (destdir, options)."""
    opts = build_options()
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest, opts


def under(dest, path):
    return dest / str(path).lstrip("/")


def dirs(opts):
    prefix = opts["prefix"]
    unitdir = opts.get("systemdunitdir") or os.path.join(prefix, "lib/systemd/system")
    return {
        "prefix": prefix,
        "unitdir": unitdir,
        "sysconfdir": os.path.join(prefix, opts["sysconfdir"]),
        "mandir": os.path.join(prefix, opts["mandir"]),
        "sbindir": os.path.join(prefix, opts["sbindir"]),
        "bindir": os.path.join(prefix, opts["bindir"]),
    }


# 1. The installed file list ------------------------------------------------

def test_install_file_list(installed):
    dest, opts = installed
    d = dirs(opts)
    expected = {os.path.join(d["unitdir"], u) for u in UNITS}
    expected |= {os.path.join(d["prefix"], "lib/sysusers.d/tandem.conf"),
                 os.path.join(d["prefix"], "lib/tmpfiles.d/tandem.conf"),
                 os.path.join(d["sysconfdir"], "tandem/tandem.conf"),
                 os.path.join(d["sysconfdir"], "fail2ban/filter.d/tandem.conf")}
    if opts.get("docs", True):
        expected |= {os.path.join(d["mandir"], m) for m in MANPAGES}
    for name in built_binaries():
        expected.add(os.path.join(d[BINARIES[name][1]], name))
    got = {"/" + str(p.relative_to(dest)) for p in dest.rglob("*")
           if p.is_file() or p.is_symlink()}
    assert got == expected, (f"missing: {sorted(expected - got)}; "
                             f"unexpected: {sorted(got - expected)}")
    for name in built_binaries():
        p = under(dest, os.path.join(d[BINARIES[name][1]], name))
        assert os.access(p, os.X_OK), p
    # Units and config are world-readable, not executable.
    for u in UNITS:
        mode = under(dest, os.path.join(d["unitdir"], u)).stat().st_mode & 0o777
        assert mode == 0o644, (u, oct(mode))


def test_installed_files_carry_no_build_path(installed):
    """Reproducible: nothing but binaries may name the build or source dir
    (binaries keep them only in debug info, which packagers strip or map)."""
    dest, opts = installed
    d = dirs(opts)
    bins = {os.path.join(d[BINARIES[n][1]], n) for n in BINARIES}
    for p in dest.rglob("*"):
        if not p.is_file() or "/" + str(p.relative_to(dest)) in bins:
            continue
        text = p.read_bytes()
        for needle in (str(BUILD.resolve()), str(ROOT)):
            assert needle.encode() not in text, (p, needle)


def test_service_units_name_installed_binaries(installed):
    dest, opts = installed
    d = dirs(opts)
    for n in ("imapd", "pop3d", "lmtpd"):
        text = under(dest, os.path.join(d["unitdir"], f"tandem-{n}.service")).read_text()
        assert f"ExecStart={d['sbindir']}/tandem-{n}\n" in text
        assert not re.search(r"@[a-z_]+@", text), "unsubstituted @var@"
        for key in ("Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "ProtectHome=yes", "PrivateTmp=yes",
                    "ReadWritePaths=/var/lib/tandem",
                    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                    "SystemCallFilter=@system-service",
                    "ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE="):
            assert key in text, (n, key)
    sockets = {"tandem-imapd.socket": ("143", "imap"),
               "tandem-imapd-tls.socket": ("993", "imap-tls"),
               "tandem-pop3d.socket": ("110", "pop3"),
               "tandem-pop3d-tls.socket": ("995", "pop3-tls"),
               "tandem-lmtpd.socket": ("127.0.0.1:24", "lmtp")}
    for unit, (listen, name) in sockets.items():
        text = under(dest, os.path.join(d["unitdir"], unit)).read_text()
        assert f"\nListenStream={listen}\n" in text, unit
        assert f"\nFileDescriptorName={name}\n" in text, unit
        svc = unit.replace("-tls.socket", ".socket").replace(".socket", ".service")
        assert f"\nService={svc}\n" in text, unit
    user = opts["run_user"]
    sample = under(dest, os.path.join(d["sysconfdir"], "tandem/tandem.conf")).read_text()
    assert f"\n#user = {user}\n" in sample and not re.search(r"@[a-z_]+@", sample)
    sysusers = under(dest, os.path.join(d["prefix"], "lib/sysusers.d/tandem.conf")).read_text()
    assert re.search(rf"^u {re.escape(user)} - .* /var/lib/tandem ", sysusers, re.M)
    tmpfiles = under(dest, os.path.join(d["prefix"], "lib/tmpfiles.d/tandem.conf")).read_text()
    assert re.search(rf"^d /var/lib/tandem 0750 {re.escape(user)} {re.escape(user)} ",
                     tmpfiles, re.M)
    assert re.search(rf"^d /run/tandem 0755 {re.escape(user)} ", tmpfiles, re.M)


# 2. systemd-analyze verify ---------------------------------------------------

def test_systemd_analyze_verify(installed, tmp_path):
    if not have("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    dest, opts = installed
    d = dirs(opts)
    # Verify copies whose ExecStart names an executable that exists here:
    # the installed binary when it is built, else /bin/true (verify checks
    # that the command is executable; the rest of the unit is unchanged).
    units = []
    for u in UNITS:
        text = under(dest, os.path.join(d["unitdir"], u)).read_text()
        m = re.search(r"^ExecStart=(\S+)", text, re.M)
        if m:
            target = under(dest, m.group(1))
            exe = str(target) if target.is_file() else "/bin/true"
            text = text.replace(f"ExecStart={m.group(1)}", f"ExecStart={exe}")
        (tmp_path / u).write_text(text)
        units.append(str(tmp_path / u))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *units],
                       capture_output=True, text=True, cwd=tmp_path)
    if "Failed to initialize manager" in r.stderr or "Operation not permitted" in r.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {r.stderr.strip()}")
    # verify only warns (exit 0) on an unknown key: any output is a defect.
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", \
        r.stdout + r.stderr


# 3. Man pages ------------------------------------------------------------------

@pytest.mark.parametrize("page", MANPAGES)
def test_man_page_renders_without_warnings(page):
    src = PKG / "man" / Path(page).name
    if not have("groff"):
        pytest.skip("groff not installed (apt-get install groff)")
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    if not have("man"):
        pytest.skip("man not installed (apt-get install man-db)")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(src)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run(["man", "-l", str(src)], capture_output=True, text=True,
                       env=dict(env, MANPAGER="cat", PAGER="cat"))
    assert "NAME" in r.stdout and "SEE ALSO" in r.stdout


# tandem.conf(5) and the sample config against core/config.c ---------------

def _size(v):
    m = re.fullmatch(r"(\d+)([KMG]?)B?", v.strip(), re.I)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]


def config_c_keys():
    """[(section, key, type, expected default text)] from core/config.c."""
    src = (ROOT / "core" / "config.c").read_text()
    keys = re.findall(r'\{"(\w+)", "(\w+)", (K_\w+), O\((\w+)\)', src)
    assert len(keys) > 30, "could not parse the key table of core/config.c"
    init = src[src.index("void config_init"):]
    init = init[:init.index("\n}\n")]
    init = re.sub(r"/\*.*?\*/", "", init, flags=re.S)
    # Join the string literal continuations of config_init.
    init = re.sub(r'"\s*\n\s*"', "", init)
    values = {f: re.sub(r"\(\s+", "(", v).strip()
              for f, v in re.findall(r"cfg->(\w+) = (.+?);", init, re.S)}
    out = []
    for section, key, typ, field in keys:
        v = values.get(field)
        if v is None:  # left zero by the memset
            v = {"K_BOOL": "false", "K_LOGTARGET": "false"}.get(typ, "0")
        m = re.fullmatch(r'xstrdup\("(.*)"\)', v)
        if m:
            v = m.group(1)
        elif v == "xstrdup(TANDEM_RUN_USER_DEFAULT)":
            v = "_tandem"
        elif typ == "K_BOOL":
            v = {"true": "yes", "false": "no"}[v]
        elif typ == "K_LOGTARGET":
            v = {"true": "syslog", "false": "stderr"}[v]
        elif typ == "K_LEVEL":
            v = v.replace("LOG_LEVEL_", "").lower()
        elif typ == "K_SEP":
            v = v.strip("'")
        elif typ == "K_PLAINTEXT":
            v = v.replace("PLAINTEXT_", "").lower()
        elif typ == "K_DELMODE":
            v = v.replace("POP3_DELETE_", "").lower()
        elif typ == "K_DAYS":
            v = "never" if v == "-1" else v
        elif typ == "K_WORKERS":
            v = "auto" if v == "0" else v
        elif typ == "K_SIZE":
            m = re.fullmatch(r"(\d+)u? << (\d+)", v)
            v = str(int(m.group(1)) << int(m.group(2))) if m else v
        out.append((section, key, typ, v))
    return out


def same_default(typ, documented, expected):
    if typ == "K_SIZE":
        return _size(documented) == int(expected)
    if expected == "":
        return documented in ("", "empty")
    return documented == expected


def test_man_tandem_conf_documents_every_key():
    text = (PKG / "man" / "tandem.conf.5").read_text()
    sections = re.split(r'^\.SH "\[(\w+)\]"\n', text, flags=re.M)
    by_section = dict(zip(sections[1::2], sections[2::2]))
    for section, key, typ, expected in config_c_keys():
        assert section in by_section, f"tandem.conf(5) has no [{section}] section"
        m = re.search(rf'^\.BI {key} " \\fR\(default (?:\\fP(.*?)\\fR|(empty|below))\)"$',
                      by_section[section], re.M)
        assert m, f"tandem.conf(5) does not document [{section}] {key}"
        documented = m.group(1) if m.group(1) is not None else m.group(2)
        if documented == "below":
            flat = re.sub(r"\n", "", by_section[section]).replace("\\-", "-")
            assert expected in flat, f"[{section}] {key}: default {expected!r} not shown"
            continue
        documented = documented.replace("\\-", "-")
        assert same_default(typ, documented, expected), \
            f"tandem.conf(5) [{section}] {key}: documents {documented!r}, config.c has {expected!r}"


def sample_config():
    """{section: {key: value}} of the commented-out `#key = value` lines."""
    cur, out = None, {}
    text = (PKG / "tandem.conf").read_text().replace("@run_user@", "_tandem")
    for line in text.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line):
            cur = out.setdefault(m.group(1), {})
        elif m := re.fullmatch(r"#(\w+) =(?: (.*))?", line):
            assert cur is not None, line
            cur[m.group(1)] = m.group(2) or ""
    return out


def test_sample_config_shows_every_key_with_its_default():
    sample = sample_config()
    expected_keys = set()
    for section, key, typ, expected in config_c_keys():
        expected_keys.add((section, key))
        assert key in sample.get(section, {}), f"sample config lacks [{section}] {key}"
        assert same_default(typ, sample[section][key], expected), \
            f"sample [{section}] {key} = {sample[section][key]!r}, config.c has {expected!r}"
    got = {(s, k) for s, kv in sample.items() for k in kv}
    assert got == expected_keys, f"keys not in config.c: {sorted(got - expected_keys)}"


def test_sample_config_loads_when_uncommented(tmp_path):
    """The real parser accepts the sample with every key set to its default."""
    ctl = built_binaries().get("tandemctl")
    if ctl is None:
        pytest.skip("tandemctl is not built yet")
    text = re.sub(r"^#(\w+ =)", r"\1", (PKG / "tandem.conf").read_text(), flags=re.M)
    text = text.replace("@run_user@", build_options()["run_user"])
    conf = tmp_path / "tandem.conf"
    conf.write_text(text.replace("/var/lib/tandem", str(tmp_path / "data")))
    (tmp_path / "data").mkdir()
    r = subprocess.run([str(ctl), "-c", str(conf), "config", "show"],
                       capture_output=True, text=True)
    if r.returncode != 0 and "config" in r.stderr and "usage" in r.stderr.lower():
        pytest.skip(f"tandemctl has no `config show`: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    shown = {}
    cur = None
    for line in r.stdout.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line):
            cur = shown.setdefault(m.group(1), {})
        elif m := re.fullmatch(r"(\w+) = ?(.*)", line):
            cur[m.group(1)] = m.group(2)
    for section, key, typ, expected in config_c_keys():
        if key == "data_dir":
            continue
        assert key in shown.get(section, {}), \
            f"`tandemctl config show` lacks [{section}] {key}:\n{r.stdout}"
        assert same_default(typ, shown[section][key], expected), (section, key)


# The units' sandbox -----------------------------------------------------------

def unit_bounding_set():
    text = (PKG / "systemd" / "tandem-imapd.service.in").read_text()
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1).split()
    return "-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in caps)


@pytest.fixture
def sandbox_dir():
    """A data dir owned by the run user (nobody here), mode 0750 as
    tmpfiles.d makes /var/lib/tandem, under a path nobody can traverse."""
    import tempfile
    if os.geteuid() != 0:
        pytest.skip("needs root: the daemons start as root and drop privileges")
    if not have("setpriv"):
        pytest.skip("setpriv not installed (util-linux)")
    top = Path(tempfile.mkdtemp(prefix="tandem-sandbox-"))
    top.chmod(0o755)
    data = top / "data"
    data.mkdir(mode=0o750)
    shutil.chown(data, "nobody", "nogroup")
    yield top
    shutil.rmtree(top, ignore_errors=True)


def wait_ready(port, proc, log):
    """Waits until the daemon logged that it is ready (after dropping
    privileges; the port opens before that) and accepts connections.
    Returns False if it exited."""
    for _ in range(600):
        if proc.poll() is not None:
            return False
        if " ready (config " in log.read_text():
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return True
        time.sleep(0.05)
    raise AssertionError(f"never ready:\n{log.read_text()}")


@pytest.mark.parametrize("daemon", ["pop3d", "imapd", "lmtpd"])
def test_daemon_starts_in_unit_sandbox(daemon, sandbox_dir):
    """Starts the built daemon as the unit does: root with only
    CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID in the bounding set and
    no_new_privs, the data dir 0750 owned by the run user. It must bind,
    drop to that user, and serve a login (or, lmtpd, a delivery)."""
    sub = {"pop3d": "pop3d", "imapd": "imapd", "lmtpd": "lmtp"}[daemon]
    exe = BUILD / sub / f"tandem-{daemon}"
    ctl = built_binaries().get("tandemctl")
    if not exe.is_file() or ctl is None:
        pytest.skip(f"tandem-{daemon} or tandemctl not built yet")
    port = free_port()
    conf = sandbox_dir / "tandem.conf"
    conf.write_text(
        f"[server]\ndata_dir = {sandbox_dir / 'data'}\nuser = nobody\ngroup = nogroup\n"
        f"[imap]\nlisten = 127.0.0.1:{port}\nlisten_tls =\n"
        f"[pop3]\nlisten = 127.0.0.1:{port}\nlisten_tls =\n"
        f"[lmtp]\nlisten = 127.0.0.1:{port}\n")
    conf.chmod(0o644)
    r = subprocess.run([str(ctl), "-c", str(conf), "user", "add", "sbuser",
                        "--password", "sbpass"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    log = sandbox_dir / f"{daemon}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(["setpriv", f"--bounding-set={unit_bounding_set()}",
                                 "--no-new-privs", str(exe), "-c", str(conf)],
                                stderr=err)
    try:
        if not wait_ready(port, proc, log):
            text = log.read_text()
            raise AssertionError(f"tandem-{daemon} exited {proc.returncode}:\n{text}")
        uid = re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text(),
                        re.M).group(1)
        import pwd
        assert uid == str(pwd.getpwnam("nobody").pw_uid), uid
        if daemon == "pop3d":
            import poplib
            p = poplib.POP3("127.0.0.1", port, timeout=30)
            p.user("sbuser")
            assert p.pass_("sbpass").startswith(b"+OK")
            p.quit()
        elif daemon == "imapd":
            import imaplib
            c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
            assert c.login("sbuser", "sbpass")[0] == "OK"
            assert c.select("INBOX")[0] == "OK"
            c.logout()
        else:
            import smtplib
            s = smtplib.LMTP("127.0.0.1", port, timeout=30)
            s.sendmail("a@example.org", ["sbuser"], b"Subject: sandbox\r\n\r\nhi\r\n")
            s.quit()
            r = subprocess.run([str(ctl), "-c", str(conf), "mailbox", "status", "sbuser",
                                "INBOX"], capture_output=True, text=True)
            assert r.returncode == 0 and re.search(r"^messages 1$", r.stdout, re.M), \
                r.stdout + r.stderr
        # Files the daemon created belong to the run user, never to root.
        for f in (sandbox_dir / "data").rglob("*"):
            assert f.stat().st_uid != 0, f
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# 4. fail2ban -----------------------------------------------------------------

# The IPs of the auth-failure lines of tests/data/fail2ban-sample.log, in
# order. The line whose user name contains "rip=192.0.2.66" must still
# count against its real rip 198.51.100.8; logins, "auth failed" inside a
# user name or later in a message, and lmtp lines must not match.
SAMPLE_FAILURES = ["203.0.113.9", "203.0.113.9", "198.51.100.7", "2001:db8::5",
                   "198.51.100.8", "203.0.113.10", "192.0.2.20", "192.0.2.22"]


def fail2ban_filter(tmp_path):
    if not have("fail2ban-regex"):
        pytest.skip("fail2ban-regex not installed (apt-get install fail2ban)")
    common = Path("/etc/fail2ban/filter.d/common.conf")
    if not common.exists():
        pytest.skip("fail2ban's filter.d/common.conf missing")
    fd = tmp_path / "filter.d"
    fd.mkdir()
    shutil.copy(common, fd)
    shutil.copy(PKG / "fail2ban" / "tandem.conf", fd / "tandem.conf")
    return fd / "tandem.conf"


def fail2ban_ips(log, filt, *extra):
    r = subprocess.run(["fail2ban-regex", "-o", "ip", *extra, str(log), str(filt)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


def test_fail2ban_filter_matches_sample(tmp_path):
    filt = fail2ban_filter(tmp_path)
    sample = ROOT / "tests" / "data" / "fail2ban-sample.log"
    assert fail2ban_ips(sample, filt) == SAMPLE_FAILURES


def test_fail2ban_filter_on_journal_lines(tmp_path):
    """What the systemd backend sees: the daemon's stderr line, level prefix
    included, after a syslog-style header."""
    filt = fail2ban_filter(tmp_path)
    log = tmp_path / "journal.log"
    log.write_text(
        "Nov 25 17:00:01 mx1 tandem-imapd[5]: warn: imap sid=1 rip=192.0.2.1 user=a: auth failed method=PLAIN\n"
        "Nov 25 17:00:02 mx1 tandem-imapd[5]: info: imap sid=2 rip=192.0.2.2 user=a: login method=PLAIN\n")
    assert fail2ban_ips(log, filt) == ["192.0.2.1"]


def daemon_log_ips(t, name, filt, tmp_path):
    """The IPs the filter finds in a daemon's log after one failed login.
    The agreed line (core/log.h format, message starting "auth failed") is
    what the front ends must log; until one does, this is an expected
    failure that names the daemon."""
    log = tmp_path / f"{name}.log"
    for _ in range(50):
        text = t.log(name)
        if "auth failed" in text:
            break
        time.sleep(0.1)
    assert "auth failed" in text, (
        f"tandem-{name} does not log the agreed failed-login line "
        f"'<level>: <proto> sid=N rip=IP [user=U]: auth failed method=M'")
    log.write_text(text)
    ips = fail2ban_ips(log, filt, "-d", "{NONE}")
    assert ips == ["127.0.0.1"], text
    return ips


@pytest.mark.parametrize("daemon", ["pop3d", "imapd"])
def test_fail2ban_filter_on_daemon_log(daemon, request, tmp_path):
    """A real failed login, through the real daemon's log."""
    filt = fail2ban_filter(tmp_path)
    try:
        t = request.getfixturevalue("tandem")
    except pytest.FixtureLookupError:
        pytest.skip("no `tandem` fixture (tests/e2e/conftest.py) yet")
    import imaplib
    import poplib
    if daemon == "pop3d":
        if not (t.build / "pop3d" / "tandem-pop3d").exists():
            pytest.skip("tandem-pop3d is not built yet")
        p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
        p.user("alice")
        with pytest.raises(poplib.error_proto):
            p.pass_("wrong")
        p.close()
    else:
        if not (t.build / "imapd" / "tandem-imapd").exists():
            pytest.skip("tandem-imapd is not built yet")
        c = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=30)
        with pytest.raises(imaplib.IMAP4.error):
            c.login("alice", "wrong")
        c.shutdown()
    daemon_log_ips(t, daemon, filt, tmp_path)


# 5. Debian packages (slow) -----------------------------------------------------

slow = pytest.mark.skipif(os.environ.get("TANDEM_SLOW_TESTS") != "1",
                          reason="slow (builds the Debian packages and RPMs): set TANDEM_SLOW_TESTS=1")


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    if not have("dpkg-buildpackage") or not have("dh"):
        pytest.skip("dpkg-dev/debhelper not installed")
    missing = sorted(set(BINARIES) - set(built_binaries()))
    if missing:
        pytest.skip(f"the Debian packages need every binary; not built yet: {missing}")
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run(["sh", str(PKG / "build-deb.sh"), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return sorted(out.glob("*.deb")), out


@slow
def test_deb_build_and_contents(debs):
    files, out = debs
    names = {f.name.split("_")[0] for f in files}
    assert {"tandem-core", "tandem-imapd", "tandem-pop3d"} <= names
    contents = {}
    for f in files:
        r = subprocess.run(["dpkg-deb", "-c", str(f)], check=True,
                           capture_output=True, text=True)
        contents[f.name.split("_")[0]] = r.stdout
    core = contents["tandem-core"]
    for p in ("./etc/tandem/tandem.conf", "/sysusers.d/tandem.conf",
              "/tmpfiles.d/tandem.conf", "tandem-lmtpd.service", "tandem-lmtpd.socket",
              "man5/tandem.conf.5.gz", "./etc/fail2ban/filter.d/tandem.conf"):
        assert p in core, p
    assert "tandem-imapd.service" in contents["tandem-imapd"]
    assert "tandem-imapd-tls.socket" in contents["tandem-imapd"]
    assert "tandem-pop3d.service" in contents["tandem-pop3d"]
    built = built_binaries()
    for name, pkg in (("tandemctl", "tandem-core"), ("tandem-lmtpd", "tandem-core"),
                      ("tandem-deliver", "tandem-core"), ("tandem-imapd", "tandem-imapd"),
                      ("tandem-pop3d", "tandem-pop3d")):
        if name in built:
            assert f"/{name}\n" in contents[pkg], (name, pkg)
    r = subprocess.run(["dpkg-deb", "-I", str(next(f for f in files if f.name.startswith("tandem-core_"))), "conffiles"],
                       capture_output=True, text=True)
    assert "/etc/tandem/tandem.conf" in r.stdout


@slow
def test_deb_no_build_path(debs):
    """Reproducible: no file in the packages names the build tree."""
    files, out = debs
    srcdirs = [d for d in out.iterdir() if d.is_dir() and d.name.startswith("tandem-")]
    assert srcdirs
    needles = [str(ROOT).encode(), str(out).encode()]
    for f in files:  # dbgsym packages included
        x = out / ("x-" + f.name)
        subprocess.run(["dpkg-deb", "-x", str(f), str(x)], check=True)
        for p in x.rglob("*"):
            if p.is_file() and not p.is_symlink():
                data = p.read_bytes()
                for n in needles:
                    assert n not in data, (p, n)


@slow
def test_deb_lintian_no_errors(debs):
    if not have("lintian"):
        pytest.skip("lintian not installed")
    files, out = debs
    changes = list(out.glob("*.changes"))
    r = subprocess.run(["lintian", "--fail-on", "error", *[str(f) for f in files]],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not re.search(r"^E: ", r.stdout, re.M), r.stdout
    hardening = [l for l in r.stdout.splitlines() if "hardening" in l]
    assert not hardening, hardening
    assert changes


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@slow
def test_deb_install_and_login(debs, tmp_path):
    """Installs the packages into this machine (root only), starts the
    installed daemons by hand on loopback ports and logs in, then purges."""
    files, out = debs
    built = built_binaries()
    need = {"tandem-imapd", "tandem-pop3d", "tandemctl"}
    if not need <= set(built):
        pytest.skip(f"daemons not built yet: {sorted(need - set(built))}")
    if os.geteuid() != 0:
        pytest.skip("installing packages needs root")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                        *[str(f) for f in files]], capture_output=True, text=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    procs = []
    try:
        assert subprocess.run(["getent", "passwd", "_tandem"], capture_output=True).returncode == 0
        assert Path("/var/lib/tandem").is_dir()
        assert Path("/etc/tandem/tandem.conf").is_file()
        imap, pop3 = free_port(), free_port()
        conf = tmp_path / "tandem.conf"
        conf.write_text(f"[imap]\nlisten = 127.0.0.1:{imap}\nlisten_tls =\n"
                        f"[pop3]\nlisten = 127.0.0.1:{pop3}\nlisten_tls =\n"
                        f"[lmtp]\nlisten = 127.0.0.1:{free_port()}\n")
        conf.chmod(0o644)
        tmp_path.chmod(0o755)
        r = subprocess.run(["/usr/sbin/tandemctl", "-c", str(conf), "user", "add", "pkguser"],
                           input="pkgpass\n", capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        for d in ("imapd", "pop3d"):
            procs.append(subprocess.Popen([f"/usr/sbin/tandem-{d}", "-c", str(conf)],
                                          stderr=open(tmp_path / f"{d}.log", "w")))
        import imaplib
        import poplib

        def connect(fn):
            for _ in range(100):
                try:
                    return fn()
                except OSError:
                    time.sleep(0.1)
            return fn()
        c = connect(lambda: imaplib.IMAP4("127.0.0.1", imap, timeout=30))
        assert c.login("pkguser", "pkgpass")[0] == "OK"
        assert c.select("INBOX")[0] == "OK"
        c.logout()
        p = connect(lambda: poplib.POP3("127.0.0.1", pop3, timeout=30))
        p.user("pkguser")
        assert p.pass_("pkgpass").startswith(b"+OK")
        p.quit()
        # The daemons dropped to the packaged user.
        for pr in procs:
            st = Path(f"/proc/{pr.pid}/status").read_text()
            uid = re.search(r"^Uid:\s+(\d+)", st, re.M).group(1)
            assert uid != "0", st
    finally:
        for pr in procs:
            pr.terminate()
            pr.wait(timeout=30)
        r = subprocess.run(["apt-get", "purge", "-y", "tandem-core", "tandem-imapd", "tandem-pop3d"],
                           capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert r.returncode == 0, r.stderr
    assert not Path("/var/lib/tandem").exists(), "purge left /var/lib/tandem"
    assert not Path("/etc/tandem").exists(), "purge left /etc/tandem"
    assert subprocess.run(["getent", "passwd", "_tandem"], capture_output=True).returncode != 0


# RPM ---------------------------------------------------------------------------

def test_rpm_spec_parses():
    if not have("rpmspec"):
        pytest.skip("rpmspec not installed (apt-get install rpm)")
    r = subprocess.run(["rpmspec", "-P", str(PKG / "rpm" / "tandem.spec")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    spec = r.stdout
    # Every unit, man page and config file that meson installs is packaged.
    for name in UNITS + [Path(m).name for m in MANPAGES] + ["tandem.conf"]:
        assert name in spec, name
    assert "%files imapd" in spec and "%files pop3d" in spec
    assert "-Dsystemdunitdir=" in spec and "--wrap-mode=nodownload" in spec


@slow
def test_rpm_builds(tmp_path):
    if not have("rpmbuild"):
        pytest.skip("rpmbuild not installed (apt-get install rpm)")
    missing = sorted(set(BINARIES) - set(built_binaries()))
    if missing:
        pytest.skip(f"the RPMs need every binary; not built yet: {missing}")
    extra = [] if subprocess.run(["rpm", "-q", "rpm"], capture_output=True).returncode == 0 \
        else ["--nodeps"]  # Debian: build deps are dpkg's, not in rpm's database
    r = subprocess.run(["sh", str(PKG / "rpm" / "build-rpm.sh"), str(tmp_path), *extra],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    rpms = {p.name.rsplit("-", 2)[0] for p in (tmp_path / "RPMS").rglob("*.rpm")}
    assert {"tandem", "tandem-imapd", "tandem-pop3d"} <= rpms, rpms
