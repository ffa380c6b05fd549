"""The live view is on screen before the run's modules load (bench/widget.py times it)."""

from __future__ import annotations

import subprocess
import sys


def test_the_view_builds_without_the_run_modules() -> None:
    code = (
        "import sys\n"
        "from nbworkflow.widgets.view import RunView\n"
        "view = RunView()\n"
        "view.widget._repr_mimebundle_()\n"
        "heavy = [m for m in ('pydantic', 'nbworkflow.events', 'nbworkflow.spec', "
        "'nbworkflow.engine', 'yaml') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_magic_shows_the_view_before_reading_the_spec() -> None:
    from IPython.testing.globalipapp import start_ipython

    from nbworkflow.magics import workflow as wf

    start_ipython()
    original = wf.display

    # In a fresh interpreter the spec is not imported yet when the view shows; here other tests
    # may have imported it, so check the order of calls instead: display before load_workflow.
    calls: list[str] = []
    import nbworkflow.spec as spec_module

    load = spec_module.load_workflow

    def spy_load(*args: object, **kwargs: object) -> object:
        calls.append("load_workflow")
        return load(*args, **kwargs)

    def spy_display(*args: object, **kwargs: object) -> object:
        calls.append("display")
        return original(*args, **kwargs)

    wf.display = spy_display
    spec_module.load_workflow = spy_load
    try:
        from IPython import get_ipython
        from IPython.core.error import UsageError
        from IPython.utils.capture import capture_output

        ip = get_ipython()
        ip.run_line_magic("load_ext", "nbworkflow.magics")
        try:
            with capture_output():
                ip.run_cell_magic("workflow", "", "name: x\nnodes: [{id: a}]\n")
        except UsageError:
            pass  # the spec is incomplete on purpose: only the order matters
    finally:
        wf.display = original
        spec_module.load_workflow = load
    assert calls[:2] == ["display", "load_workflow"], calls
