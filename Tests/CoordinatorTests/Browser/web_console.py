#!/usr/bin/env python3
"""The lab's web page in a real browser: Debian's Chromium driven by Playwright.

Run by WebBrowserTests against a real coordinator, real agents and a QEMU
arm64 board with Debian's U-Boot. Each step prints `ok: …`; the first that
fails prints `FAILED: …` and exits 1. Screenshots go to --screenshots.

    web_console.py --site URL --alice LINK --bob LINK --board b1 --screenshots DIR
"""
import argparse, sys, time
from playwright.sync_api import sync_playwright


ERRORS = []


def fail(message):
    print(f"FAILED: {message}" + (f" (the page said: {'; '.join(ERRORS[:8])})" if ERRORS else ""), flush=True)
    sys.exit(1)


def ok(message):
    print(f"ok: {message}", flush=True)


def wait_for(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    fail(f"{what} (waited {timeout} s)")


def main():
    parser = argparse.ArgumentParser()
    for name in ("site", "alice", "bob", "board", "screenshots"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--xss-title", default=None)
    args = parser.parse_args()
    board = args.board
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        errors = ERRORS
        alice = browser.new_context(viewport={"width": 1100, "height": 800})
        page = alice.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: print("console:", message.type, message.text, flush=True))
        page.on("dialog", lambda dialog: errors.append("a dialog opened: " + dialog.message))
        sockets = []
        page.on("websocket", lambda socket: sockets.append(socket.url))

        # The link `ssh lab web` printed signs alice in; the boards page lists the boards.
        page.goto(args.alice)
        try:
            page.wait_for_selector(f'tr[data-board="{board}"]', timeout=20000)
        except Exception:
            probe = page.evaluate("""async () => {
                const r = await fetch('/api/v1/boards');
                return r.status + ' ' + (await r.text()).slice(0, 300) + ' | body: ' + document.body.innerHTML.slice(0, 300);
            }""")
            fail("the boards page never listed " + board + ": " + probe)
        if page.text_content("#me") != "alice":
            fail(f"signed in as {page.text_content('#me')!r}")
        ok("the link signed alice in and the boards page lists " + ", ".join(page.eval_on_selector_all("tr[data-board]", "rows => rows.map(r => r.dataset.board)")))
        page.screenshot(path=f"{args.screenshots}/web-boards.png")

        # The link works once.
        again = browser.new_context().new_page()
        answer = again.goto(args.alice)
        if answer.status != 403 or "used already" not in again.content():
            fail(f"the link worked a second time: {answer.status}")
        ok("the same link a second time: 403, 'used already'")

        # The boards page stays open in a tab of its own: it follows the events, no reload.
        overview = alice.new_page()
        overview.goto(args.site + "/")
        overview.wait_for_selector(f'tr[data-board="{board}"]', timeout=20000)

        # Alice reserves the board from its page, powers it on, and U-Boot's banner appears in the console.
        page.goto(f"{args.site}/board/{board}")
        # (the buttons are drawn anew at every event: click by selector, not by handle)
        page.click("#do-reserve-1h", timeout=10000)
        page.click("#do-power-on", timeout=10000)
        text = lambda: page.evaluate("window.provisionerConsoleText ? window.provisionerConsoleText() : ''")
        wait_for(lambda: "Hit any key to stop autoboot" in text(), "U-Boot's banner in the console")
        ok("reserve, power on: U-Boot's banner appears in the xterm.js console")
        holder = lambda: overview.text_content(f'tr[data-board="{board}"] td:nth-child(7)') or ""
        wait_for(lambda: holder().startswith("alice until"), "the open boards page showing alice as the holder", 15)
        power = lambda: overview.text_content(f'tr[data-board="{board}"] td:nth-child(5)') or ""
        wait_for(lambda: power() == "on", "the open boards page showing the power on", 15)
        ok("the boards page open in another tab shows the holder and the power as they change, without a reload")
        page.click("#console")
        page.keyboard.type(" ")
        wait_for(lambda: text().rstrip().endswith("=>"), "U-Boot's prompt", 90)
        # (a key in time stops the autoboot; one too late under load finds
        # the prompt after the network boot has failed: a prompt either way)
        page.keyboard.type("version\r")
        wait_for(lambda: "aarch64-linux-gnu-gcc" in text().rsplit("=> version", 1)[-1], "the answer to 'version'", 30)
        if not any(url.startswith(args.site.replace("http", "ws", 1) + f"/api/v1/boards/{board}/console?") for url in sockets):
            fail(f"the console did not run on a WebSocket: {sockets}")
        ok("typed 'version': U-Boot answered in the console (on a WebSocket)")
        page.screenshot(path=f"{args.screenshots}/web-console.png")

        # Bob, at the same time: the console is read-only and he has no power button.
        bob = browser.new_context(viewport={"width": 1100, "height": 800})
        bobs = bob.new_page()
        bobs.goto(args.bob)
        bobs.goto(f"{args.site}/board/{board}")
        bobs.wait_for_selector("#status:has-text('holder: alice')", timeout=10000)
        if bobs.query_selector("#do-power-on") or bobs.query_selector("#do-power-off"):
            fail("bob sees a power button on alice's board")
        mode = bobs.text_content("#console-mode")
        if "read-only" not in mode:
            fail(f"bob's console says {mode!r}")
        bob_text = lambda: bobs.evaluate("window.provisionerConsoleText ? window.provisionerConsoleText() : ''")
        # What b1 printed before bob opened it comes first (the scrollback, replayed).
        wait_for(lambda: "U-Boot 2023.01" in bob_text(), "the scrollback replayed in bob's console", 15)
        bobs.click("#console")
        bobs.keyboard.type("bobwastypinghere\r")
        time.sleep(2)
        if "bobwastypinghere" in text():
            fail("bob's keys reached the board")
        page.bring_to_front()
        page.click("#console")
        page.keyboard.type("echo alice-still-types\r")
        wait_for(lambda: "alice-still-types" in text(), "alice's echo: " + repr(text()[-300:]), 20)
        if "alice-still-types" not in bob_text():
            wait_for(lambda: "alice-still-types" in bob_text(), "bob watching alice's echo", 20)
        ok("bob, at the same time: the scrollback replayed, no power button, the console read-only (his keys reach nothing; he sees alice's)")

        # A POST from another origin is refused, even with the session's token.
        csrf = bobs.eval_on_selector('meta[name="csrf"]', "m => m.content")
        forged = bob.request.post(f"{args.site}/api/v1/boards/{board}/release",
                                  headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf})
        if forged.status != 403:
            fail(f"a cross-origin POST was answered {forged.status}")
        ok("a cross-origin POST: 403")

        # The timeline: alice's reservation of the board is there; a click two
        # hours ahead on the other board's row reserves that one until then.
        other = "b2" if board != "b2" else "b1"
        page.goto(f"{args.site}/timeline")
        page.wait_for_selector(f'.lane[data-board="{board}"] .slot', timeout=10000)
        lane = page.query_selector(f'.lane[data-board="{other}"]')
        box = lane.bounding_box()
        now_x = page.eval_on_selector(f'.lane[data-board="{other}"] .now', "n => n.offsetLeft")
        page.mouse.click(box["x"] + now_x + 6 * 2 + 3, box["y"] + box["height"] / 2)
        wait_for(lambda: "reserved by alice" in (page.text_content("#said") or ""), "the timeline's click answered", 15)
        said = page.text_content("#said")
        if f"{other}: reserved by alice until" not in said:
            fail(f"the timeline's click said {said!r}")
        if args.xss_title:
            titles = page.eval_on_selector_all(".slot", "slots => slots.map(s => s.textContent)")
            if not any(args.xss_title in title for title in titles):
                fail(f"the calendar event's title is not on the timeline: {titles}")
            if page.query_selector("img"):
                fail("the event's title became an <img> element")
            ok("a calendar event titled " + args.xss_title + " is shown as text (no element, no script)")
        page.screenshot(path=f"{args.screenshots}/web-timeline.png")
        ok(f"the timeline shows alice's {board}; a click on {other}'s row two hours ahead reserved it: {said}")

        # The audit page: admins only; it shows what the page did, as ssh would have written it.
        page.goto(f"{args.site}/audit")
        page.wait_for_selector("#audit tbody tr", timeout=10000)
        actions = page.eval_on_selector_all("#audit tbody tr td:nth-child(3)", "cells => cells.map(c => c.textContent)")
        if not {"reserve", "power", "console-attach"} <= set(actions):
            fail(f"the audit page lacks the page's actions: {sorted(set(actions))}")
        if bobs.goto(f"{args.site}/audit").status != 403:
            fail("bob, no admin, reached the audit page")
        ok("the audit page shows alice's reserve, power and console; bob (no admin) gets 403")

        if errors:
            fail("the page's script reported errors: " + "; ".join(errors[:5]))
        ok("no script errors, no CSP violations")
        browser.close()


if __name__ == "__main__":
    main()
