#!/usr/bin/env bash
# Install what `tinyforge-deploy` needs to build and run firmware for an
# emulated Cortex-M4F: the GNU Arm bare-metal compiler, newlib and
# qemu-system-arm (for the mps2-an386 board). Debian 12 (bookworm), as root.
#
# Why the detour for QEMU: some images carry qemu-utils from
# bookworm-backports (10.x), which declares `Breaks: qemu-system-common
# (<< 8.0)`. Installing bookworm's qemu-system-arm (7.2) would then remove
# qemu-utils. In that case we take qemu-system-arm of exactly the installed
# qemu-utils version from bookworm-backports, through a throw-away APT_CONFIG,
# so that nothing under /etc/apt changes.
set -euo pipefail

have_all() {
    command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null &&
        [ -e /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a ] &&
        { command -v cc >/dev/null || command -v gcc >/dev/null; }
}
if have_all; then
    arm-none-eabi-gcc --version | head -1
    qemu-system-arm --version | head -1
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo "$0" "$@"
    fi
    echo "install-mcu-tools: run as root (apt-get is needed)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

need_gcc=0
command -v arm-none-eabi-gcc >/dev/null || need_gcc=1
[ -e /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a ] || need_gcc=1
if [ "$need_gcc" = 1 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi >/dev/null
fi

if ! command -v qemu-system-arm >/dev/null; then
    utils_version=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
    if [[ "$utils_version" == *bpo12* ]]; then
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        mkdir -p "$tmp/sources" "$tmp/lists/partial"
        chmod -R a+rX "$tmp"   # apt downloads as user _apt
        # keep the regular suites visible (dependencies come from there too)
        cp /etc/apt/sources.list.d/*.sources "$tmp/sources/" 2>/dev/null || true
        if [ -f /etc/apt/sources.list ]; then
            cp /etc/apt/sources.list "$tmp/sources/system.list"
        fi
        cat >"$tmp/sources/backports.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        cat >"$tmp/apt.conf" <<EOF
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$tmp/sources";
Dir::State::Lists "$tmp/lists";
EOF
        APT_CONFIG="$tmp/apt.conf" apt-get update -qq
        APT_CONFIG="$tmp/apt.conf" apt-get install -y -qq --no-install-recommends \
            -t bookworm-backports "qemu-system-arm=$utils_version" >/dev/null
    else
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
    fi
fi

# The instruction-counting plugin is compiled with the host C compiler.
if ! command -v gcc >/dev/null && ! command -v cc >/dev/null; then
    apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

arm-none-eabi-gcc --version | head -1
qemu-system-arm --version | head -1
