#!/bin/sh
# Installs the Ferry connector agent on a Linux system without the .deb:
#   sudo ./install.sh               install, register and start the service
#   sudo ./install.sh --uninstall   unlink, stop and unregister the service, remove the binaries
#   sudo ./install.sh --purge       the same, and remove /etc/ferry, the log and the user ferry
# Then link it: sudo ferry-agent link --coordinator URL --code CODE --source gnucash --path BOOK
#
# The agent updates itself (docs/operations.md, "Agent updates"): each
# version lives in $FERRY_ROOT/versions/X.Y.Z/ferry-agent, and the service
# runs the link $FERRY_ROOT/ferry-agent, which an update switches; the
# folder belongs to the service account. /usr/local/bin/ferry-agent links
# to it. Running this script with a newer tarball installs that version
# beside the others and switches the link.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${FERRY_BIN_DIR:-/usr/local/bin}/ferry-agent
root=${FERRY_ROOT:-/var/lib/ferry-agent}
config=/etc/ferry/agent.json
if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run as root (sudo $0 $*)" >&2
	exit 1
fi
case "${1:-}" in
"")
	version=$("$here/ferry-agent" version | sed -n '1s/^ferry-agent \([^ ]*\) .*/\1/p')
	[ -n "$version" ] || { echo "install.sh: $here/ferry-agent does not say its version" >&2; exit 1; }
	install -d -m 0755 "$root/versions/$version"
	install -m 0755 "$here/ferry-agent" "$root/versions/$version/ferry-agent.new"
	mv -f "$root/versions/$version/ferry-agent.new" "$root/versions/$version/ferry-agent"
	ln -sfn "versions/$version/ferry-agent" "$root/ferry-agent.new" && mv -Tf "$root/ferry-agent.new" "$root/ferry-agent"
	ln -sfn "$root/ferry-agent" "$bin"
	"$bin" install --config "$config" --user ferry
	chown -R ferry "$root"
	"$bin" start
	echo "Installed $version. Link it: sudo ferry-agent link --coordinator URL --code CODE --source gnucash --path BOOK"
	;;
--uninstall|--purge)
	if [ -x "$bin" ]; then
		timeout 30 "$bin" unlink --all --config "$config" || true
		"$bin" uninstall --config "$config" || true
		rm -f "$bin"
	fi
	rm -rf "$root"
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
