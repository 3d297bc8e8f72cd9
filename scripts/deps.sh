#!/bin/sh
# Installs what Tandem needs to build, run and test, from Debian's archive
# only. Safe to run again. Needs root (or sudo).
set -e
PKGS="meson ninja-build pkg-config gcc libc6-dev
 libuv1-dev libgnutls28-dev gnutls-bin libsqlite3-dev sqlite3 libinih-dev
 libargon2-dev libcrypt-dev zlib1g-dev openssl ca-certificates"
TEST_PKGS="python3 python3-pytest curl fetchmail getmail6 swaks isync
 dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd
 libmime-tools-perl systemd fail2ban groff man-db lintian debhelper
 dpkg-dev devscripts rpm build-essential valgrind"
case "$1" in
--test) PKGS="$PKGS $TEST_PKGS" ;;
esac
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# policy-rc.d keeps the Dovecot package from starting a system daemon:
	# the tests and benchmarks start their own on loopback.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod +x /usr/sbin/policy-rc.d
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi
