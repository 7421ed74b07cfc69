#!/usr/bin/env python3
"""A labgrid user on a lab board: labgrid's own drivers, over plain ssh.

Run by LabgridTests against the real coordinator, real agents and a QEMU
arm64 board with Debian's U-Boot. The environment file is the one
docs/labgrid.md shows: ExternalConsoleDriver on `ssh -tt BOARD@lab`,
ExternalPowerDriver on `ssh lab power BOARD on|off|cycle`, UBootDriver and
UBootStrategy. Each check prints `ok: …`; the first that fails prints
`FAILED: …` and exits 1.

    labgrid_uboot.py --env env.yaml --board b1 --ssh-config FILE [--tag T] [--second-boot] [--replay-probe] [--log FILE]
"""
import argparse
import logging
import subprocess
import sys
import time

import pexpect
from labgrid import Environment
from labgrid.strategy import StrategyError


def fail(message):
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def ok(message):
    print(f"ok: {message}", flush=True)


def lab(ssh_config, *words):
    """`ssh lab WORDS…` as the user types it (the Host entry names the lab)."""
    return subprocess.run(["ssh", "-F", ssh_config, "lab", *words], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def power_state(ssh_config, board):
    answer = lab(ssh_config, "power", board, "status")
    if answer.returncode != 0:
        fail(f"ssh lab power {board} status: exit {answer.returncode}: {answer.stderr.strip()}")
    return answer.stdout.strip()


def cause(error):
    """The error under labgrid's StrategyError: what the user reads."""
    while isinstance(error, StrategyError) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, subprocess.CalledProcessError):
        output = error.output.decode(errors="replace") if isinstance(error.output, bytes) else str(error.output)
        return f"{' '.join(error.cmd)}: exit {error.returncode}: {output.strip()}"
    return f"{type(error).__name__}: {error}"


def to_uboot(strategy, what):
    started = time.monotonic()
    try:
        strategy.transition("uboot")
    except Exception as error:  # labgrid wraps the driver's error in a StrategyError
        fail(f"{what}: UBootStrategy did not reach U-Boot: {cause(error)}")
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    for name in ("env", "board", "ssh-config"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--second-boot", action="store_true", help="transition('uboot') again after transition('off')")
    parser.add_argument("--replay-probe", action="store_true",
                        help="say whether the console, opened with the board off, replays a U-Boot prompt")
    parser.add_argument("--tag", help="reserve any board with this tag (reserve --tag T --wait), which must be --board")
    parser.add_argument("--log", help="labgrid's debug log (every console byte) to this file")
    args = parser.parse_args()
    if args.log:
        logging.basicConfig(level=logging.DEBUG, filename=args.log)
    board, ssh_config = args.board, args.ssh_config

    env = Environment(config_file=args.env)
    target = env.get_target("main")
    power = target.get_driver("ExternalPowerDriver")

    # Without a reservation the lab refuses power, with exit status 3 and
    # one line on stderr, which labgrid's power driver raises.
    try:
        power.on()
        fail("power on worked without a reservation")
    except subprocess.CalledProcessError as error:
        said = error.output.decode(errors="replace").strip()
        if error.returncode != 3 or f"needs a reservation of {board}" not in said:
            fail(f"without a reservation: exit {error.returncode}, {said!r}")
        ok(f"without a reservation, ExternalPowerDriver.on() raises: exit 3, {said!r}")

    if args.tag:
        # Any free board with the tag: its name alone on stdout (the
        # environment file names the board as $LG_BOARD).
        reserved = lab(ssh_config, "reserve", "--tag", args.tag, "--for", "1h", "--wait", "--timeout", "1m")
        if reserved.returncode != 0 or reserved.stdout.strip() != board:
            fail(f"ssh lab reserve --tag {args.tag} --for 1h --wait: exit {reserved.returncode}: "
                 f"{reserved.stdout.strip()!r} {reserved.stderr.strip()}")
        ok(f"ssh lab reserve --tag {args.tag} --for 1h --wait: {reserved.stdout.strip()}")
    else:
        reserved = lab(ssh_config, "reserve", board, "--for", "1h")
        if reserved.returncode != 0:
            fail(f"ssh lab reserve {board} --for 1h: exit {reserved.returncode}: {reserved.stderr.strip()}")
        ok(f"ssh lab reserve {board} --for 1h: {reserved.stdout.strip()}")

    # UBootStrategy: power off, open the console, power cycle, stop autoboot.
    strategy = target.get_driver("UBootStrategy")
    seconds = to_uboot(strategy, "first boot")
    if power_state(ssh_config, board) != f"{board}: on":
        fail(f"after the transition the lab says {power_state(ssh_config, board)!r}")
    ok(f"UBootStrategy.transition('uboot') stopped autoboot at U-Boot's prompt in {seconds:.1f} s; the lab says '{board}: on'")

    uboot = target.get_driver("UBootDriver")
    lines, _, status = uboot.run("version")
    banner = next((line for line in lines if line.startswith("U-Boot 20")), None)
    if status != 0 or banner is None:
        fail(f"UBootDriver.run('version'): status {status}, {lines!r}")
    ok(f"UBootDriver.run('version'): exit 0, {banner.strip()!r}")

    _, _, status = uboot.run("test 1 -eq 2")
    if status != 1:
        fail(f"UBootDriver.run('test 1 -eq 2') gave exit status {status}, not 1")
    ok("UBootDriver.run('test 1 -eq 2'): exit 1, U-Boot's own status through the console")

    output = uboot.run_check("setenv labgrid_probe reached-over-ssh; printenv labgrid_probe")
    if output != ["labgrid_probe=reached-over-ssh"]:
        fail(f"UBootDriver.run_check(printenv): {output!r}")
    ok(f"UBootDriver.run_check('setenv …; printenv labgrid_probe'): {output[0]!r}")

    try:
        strategy.transition("off")
    except Exception as error:
        fail(f"UBootStrategy.transition('off'): {cause(error)}")
    if power_state(ssh_config, board) != f"{board}: off":
        fail(f"after transition('off') the lab says {power_state(ssh_config, board)!r}")
    ok(f"UBootStrategy.transition('off'): the lab says '{board}: off'")

    if args.replay_probe:
        # What the strategy's next transition('uboot') would read first: the
        # console, opened while the board is off, replays its scrollback. A
        # U-Boot prompt in it is a stale one (nothing runs to print it), and
        # UBootDriver would take it for the live prompt of the new boot.
        console = target.get_driver("ExternalConsoleDriver")
        target.activate(console)
        try:
            console.expect("=> ", timeout=2)
            print("replay: a stale U-Boot prompt", flush=True)
        except pexpect.TIMEOUT:
            print("replay: no stale U-Boot prompt", flush=True)
        target.deactivate(console)

    if args.second_boot:
        seconds = to_uboot(strategy, "second boot")
        lines, _, status = uboot.run("printenv labgrid_probe")
        if status == 0:
            fail(f"the board was not reset: labgrid_probe survived ({lines!r})")
        ok(f"a second transition('uboot') in {seconds:.1f} s reached a fresh U-Boot (labgrid_probe is gone: exit {status})")
        strategy.transition("off")

    released = lab(ssh_config, "release", board)
    if released.returncode != 0:
        fail(f"ssh lab release {board}: exit {released.returncode}: {released.stderr.strip()}")
    ok(f"ssh lab release {board}")
    target.cleanup()


if __name__ == "__main__":
    main()
