"""Debian's Dovecot as the reference server, started on loopback with its
own configuration (never the system one). Used by comparison tests and by
the benchmarks (bench/run).

    d = Dovecot(root, users={"alice": "secret"}, tuned=False, cert=..., key=...)
    d.start(); ... d.imap_port, d.pop3_port, d.lmtp_port ...; d.stop()
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def _free_port():
    # the same allocator as the tandem fixture: below the ephemeral range,
    # never handed out twice
    from conftest import free_port
    return free_port()


def available():
    return os.path.exists(DOVECOT)


class Dovecot:
    def __init__(self, root, users, tuned=False, cert=None, key=None, mail_user="nobody",
                 mail_group="nogroup", fsync=True):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.users = users
        self.tuned = tuned
        self.cert, self.key = cert, key
        self.imap_port, self.imaps_port = _free_port(), _free_port()
        self.pop3_port, self.pop3s_port = _free_port(), _free_port()
        self.lmtp_port = _free_port()
        self.mail_user, self.mail_group = mail_user, mail_group
        self.fsync = fsync
        self.proc = None
        self.conf = self.root / "dovecot.conf"

    def home(self, user):
        return self.root / "home" / user

    def maildir(self, user):
        return self.home(user) / "Maildir"

    def write_config(self):
        r = self.root
        (r / "run").mkdir(exist_ok=True)
        (r / "home").mkdir(exist_ok=True)
        os.chmod(r, 0o755)
        os.chmod(r / "home", 0o777)
        for d in (r / "run",):
            os.chmod(d, 0o755)
        (r / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n"
                                          for u, p in self.users.items()))
        ssl = "no"
        if self.cert:
            ssl = f"yes\nssl_cert = <{self.cert}\nssl_key = <{self.key}"
        tuned = ""
        if self.tuned:
            # Dovecot's documented high-performance mode: long-lived login
            # processes and reused mail processes.
            tuned = """
service imap-login {
  service_count = 0
  process_min_avail = 2
  vsz_limit = 1G
}
service pop3-login {
  service_count = 0
  process_min_avail = 2
}
service imap {
  service_count = 0
  process_limit = 1024
  client_limit = 1
}
service pop3 {
  service_count = 0
  process_limit = 1024
  client_limit = 1
}
service auth {
  client_limit = 4096
}
"""
        self.conf.write_text(f"""
base_dir = {r}/run
state_dir = {r}/state
instance_name = tandem-ref-{os.getpid()}-{self.imap_port}
log_path = /dev/stderr
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = {ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_fsync = {"always" if self.fsync else "optimized"}
pop3_uidl_format = %08Xu%08Xv
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
default_client_limit = 100000
default_process_limit = 10000
mail_max_userip_connections = 100000
protocol lmtp {{
  auth_username_format = %Ln
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {r}/passwd
}}
userdb {{
  driver = static
  args = uid={self.mail_user} gid={self.mail_group} home={r}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = {self.pop3s_port}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service anvil {{
  chroot =
}}
{tuned}
""")

    def start(self):
        self.write_config()
        self.log = open(self.root / "dovecot.log", "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        for port in (self.imap_port, self.pop3_port, self.lmtp_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("dovecot exited: " +
                                       (self.root / "dovecot.log").read_text(errors="replace"))
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("dovecot did not start")
                    time.sleep(0.05)

    def pids(self):
        """Every process of this instance (master and children)."""
        out = []
        if not self.proc:
            return out
        todo = [self.proc.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            except OSError:
                kids = []
            todo += [int(k) for k in kids]
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
