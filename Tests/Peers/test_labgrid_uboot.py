"""The pytest form of a labgrid user's test (docs/labgrid.md), run by
LabgridTests as `pytest --lg-env env.yaml` with the board held.

labgrid's pytest plugin gives the `target` and `strategy` fixtures from the
environment file. Each check prints `ok: …` (pytest -s shows them).
"""


def test_uboot_answers_version(target, strategy):
    strategy.transition("uboot")
    uboot = target.get_driver("UBootDriver")
    lines = uboot.run_check("version")
    assert any(line.startswith("U-Boot 20") for line in lines), lines
    print(f"ok: pytest --lg-env: UBootDriver.run_check('version'): {lines[0]!r}")
    strategy.transition("off")
    print("ok: pytest --lg-env: transition('off')")
