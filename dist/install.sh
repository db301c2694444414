#!/bin/sh
# Installs Casket; `make install` and `make install-service` call it.
#
#   dist/install.sh binary    copy $BIN to $DESTDIR$PREFIX/bin/casket and let it bind ports < 1024
#   dist/install.sh service   create the casket user and directories, install the systemd unit
#
# Environment: BIN (bin/casket), PREFIX (/usr/local), DESTDIR (empty), UNITDIR (/etc/systemd/system).
# With DESTDIR set (packaging), no user is created and systemd is not reloaded.
set -eu

BIN=${BIN:-bin/casket}
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
UNITDIR=${UNITDIR:-/etc/systemd/system}
here=$(dirname "$0")
target="$DESTDIR$PREFIX/bin/casket"

install_binary() {
	if [ ! -f "$BIN" ]; then
		echo "install: $BIN not found; run 'make build' first" >&2
		exit 1
	fi
	install -d "$DESTDIR$PREFIX/bin"
	install -m 0755 "$BIN" "$target"
	echo "installed $target"
	if ! command -v setcap >/dev/null 2>&1; then
		echo "setcap not found (Debian/Ubuntu: apt install libcap2-bin): $target can bind ports 80 and 443 only" \
			"as root or under the systemd unit (AmbientCapabilities)"
		return
	fi
	if ! setcap cap_net_bind_service=+ep "$target"; then
		echo "install: setcap cap_net_bind_service=+ep $target failed (run as root)" >&2
		exit 1
	fi
	echo "gave $target the cap_net_bind_service capability (ports below 1024 without root)"
}

install_service() {
	unit="$DESTDIR$UNITDIR/casket.service"
	install -d "$DESTDIR$UNITDIR"
	# The unit names /usr/local/bin/casket; follow PREFIX.
	sed "s#/usr/local/bin/casket#$PREFIX/bin/casket#g" "$here/casket.service" >"$unit"
	chmod 0644 "$unit"
	echo "installed $unit"
	if [ -n "$DESTDIR" ]; then
		return
	fi
	if ! getent passwd casket >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /var/lib/casket --no-create-home \
			--shell /usr/sbin/nologin --comment "Casket web server" casket
		echo "created user casket"
	fi
	install -d -m 0755 /etc/casket
	install -d -m 0700 -o casket -g casket /var/lib/casket
	install -d -m 0750 -o casket -g casket /var/log/casket
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload
	fi
	if [ ! -f /etc/casket/Casketfile ]; then
		echo "next: write /etc/casket/Casketfile, then: systemctl enable --now casket"
	else
		echo "next: systemctl enable --now casket (or systemctl reload casket if it runs)"
	fi
}

case "${1:-binary}" in
binary) install_binary ;;
service) install_service ;;
*)
	echo "usage: $0 binary|service" >&2
	exit 2
	;;
esac
