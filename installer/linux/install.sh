#!/bin/sh
# Installs the Ferry connector agent on a Linux system without the .deb:
#   sudo ./install.sh               install to /usr/local/bin, register and start the service
#   sudo ./install.sh --uninstall   unlink, stop and unregister the service, remove the binary
#   sudo ./install.sh --purge       the same, and remove /etc/ferry, the log and the user ferry
# Then link it: sudo ferry-agent link --coordinator URL --code CODE --source gnucash --path BOOK
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${FERRY_BIN_DIR:-/usr/local/bin}/ferry-agent
config=/etc/ferry/agent.json
if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run as root (sudo $0 $*)" >&2
	exit 1
fi
case "${1:-}" in
"")
	install -m 0755 "$here/ferry-agent" "$bin"
	"$bin" install --config "$config" --user ferry
	"$bin" start
	echo "Installed. Link it: sudo ferry-agent link --coordinator URL --code CODE --source gnucash --path BOOK"
	;;
--uninstall|--purge)
	if [ -x "$bin" ]; then
		timeout 30 "$bin" unlink --all --config "$config" || true
		"$bin" uninstall --config "$config" || true
		rm -f "$bin"
	fi
	if [ "$1" = --purge ]; then
		rm -rf /etc/ferry /var/log/ferry-agent.log /run/ferry-agent.pid
		if id ferry >/dev/null 2>&1; then userdel ferry; fi
		if getent group ferry >/dev/null; then groupdel ferry; fi
	fi
	;;
*)
	sed -n '2,6p' "$0" >&2
	exit 2
	;;
esac
