#!/bin/sh
# Boots a build on any free lab board with the given tag, runs a test on it,
# keeps the console log, and gives the board back, whatever happens.
# POSIX sh and OpenSSH only: what a CI runner has.
#
#   LAB=lab.example.com TAG=imx8mp KERNEL=Image INITRD=rootfs.cpio.gz \
#   TEST='/usr/bin/selftest --quick' examples/ci/board-test.sh
#
# Environment:
#   LAB       the lab's ssh destination (the coordinator, or a lone agent)  required
#   SSH       the ssh command with its options (default: ssh -o BatchMode=yes)
#   TAG       the tag the board must have; several: "imx8mp emmc"           required
#   HOLD      how long to hold the board at most (default 1h)
#   WAIT      how long to wait for a free board (default 30m)
#   KERNEL    the kernel to netboot, with INITRD, DTB and ARGS (its command line)
#   ROOTFS    or: an image to flash (with flash's progress), then boot
#   BOOTED    what the console shows once the system is up (default: login:)
#   TEST      the command run in the board's shell (as an ssh command line)  required
#   TEST_TIMEOUT  (default 10m)
#   LOG       where the job's console log goes (default: board.log)
#
# Exit status: the test's own; 1 when the lab or the board failed first.
set -eu

: "${LAB:?LAB: the lab's ssh destination}" "${TAG:?TAG: the board's tag}" "${TEST:?TEST: the command to run on the board}"
SSH="${SSH:-ssh -o BatchMode=yes}"
HOLD="${HOLD:-1h}" WAIT="${WAIT:-30m}" BOOTED="${BOOTED:-login:}" TEST_TIMEOUT="${TEST_TIMEOUT:-10m}" LOG="${LOG:-board.log}"
KERNEL="${KERNEL:-}" INITRD="${INITRD:-}" DTB="${DTB:-}" ARGS="${ARGS:-}" ROOTFS="${ROOTFS:-}"
[ -n "$KERNEL" ] || [ -n "$ROOTFS" ] || { echo "board-test: give KERNEL (netboot) or ROOTFS (flash)" >&2; exit 2; }

lab() { $SSH "$LAB" "$@"; }
say() { echo "board-test: $*" >&2; }

tags=
for tag in $TAG; do tags="$tags --tag $tag"; done
started=$(date +%s)
say "waiting for a board with $TAG"
# The board's name alone on stdout; the queue position on stderr.
board=$(lab reserve $tags --for "$HOLD" --wait --timeout "$WAIT")
say "got $board"

finish() {
    status=$?
    trap - EXIT INT TERM
    minutes=$(( ($(date +%s) - started) / 60 + 1 ))
    lab log "$board" --since "${minutes}m" >"$LOG" 2>/dev/null || say "could not fetch the console log"
    lab release "$board" >/dev/null 2>&1 || say "could not release $board"
    say "released $board; console log in $LOG; exit $status"
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

upload() { # FILE NAME
    lab upload "$board" "$2" <"$1" >/dev/null
}

if [ -n "$ROOTFS" ]; then
    upload "$ROOTFS" ci-rootfs
    set -- flash "$board" --rootfs ci-rootfs
    [ -z "$KERNEL" ] || { upload "$KERNEL" ci-kernel; set -- "$@" --kernel ci-kernel; }
    [ -z "$DTB" ] || { upload "$DTB" ci-dtb; set -- "$@" --dtb ci-dtb; }
    lab "$@"
else
    upload "$KERNEL" ci-kernel
    set -- netboot "$board" --kernel ci-kernel --wait "'$BOOTED'" --timeout 5m
    [ -z "$INITRD" ] || { upload "$INITRD" ci-initrd; set -- "$@" --initrd ci-initrd; }
    [ -z "$DTB" ] || { upload "$DTB" ci-dtb; set -- "$@" --dtb ci-dtb; }
    [ -z "$ARGS" ] || set -- "$@" --args "'$ARGS'"
    lab "$@" >/dev/null
fi
say "$board is up; running the test"
set +e
lab run "$board" --timeout "$TEST_TIMEOUT" -- "$TEST"
status=$?
set -e
exit "$status"
