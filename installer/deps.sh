#!/usr/bin/env bash
# Installs the Debian packages the installers are built with, when one is
# missing: dpkg-deb (dpkg-dev), wixl and msiinfo (wixl, msitools),
# osslsigncode, openssl. Needs root for apt-get; otherwise it names what
# is missing and fails.
set -euo pipefail
declare -A pkg=([dpkg-deb]=dpkg-dev [wixl]=wixl [msiinfo]=msitools [osslsigncode]=osslsigncode [openssl]=openssl [fakeroot]=fakeroot)
missing=()
for tool in "${!pkg[@]}"; do
	command -v "$tool" >/dev/null || missing+=("${pkg[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "installer/deps.sh: missing ${missing[*]}: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "installer/deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
