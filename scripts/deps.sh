#!/bin/sh
# Install the Debian packages the relay needs to build, run and test.
# Only installs what is missing, and only when run as root; otherwise it
# lists what is missing and lets the build fail with a clear message.
set -eu

BUILD="build-essential cmake pkg-config clang libclang-rt-14-dev \
libevent-dev libssl-dev libc-ares-dev libgmime-3.0-dev libinih-dev \
libjansson-dev libsqlite3-dev libpq-dev openssl"
TEST="libcmocka-dev python3 python3-pytest python3-aiosmtpd swaks \
dnsmasq-base bind9-dnsutils postfix libsisimai-perl postgresql procps strace
util-linux"

case "${1:-build}" in
  build) want="$BUILD" ;;
  test)  want="$BUILD $TEST" ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages:$missing" >&2
  echo "deps: run 'sudo apt-get install$missing' or run make as root" >&2
  exit 0
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postfix must not start a system instance or ask questions.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -qq --no-install-recommends $missing >/dev/null
