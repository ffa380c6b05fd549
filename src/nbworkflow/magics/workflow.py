"""``%%workflow`` (run the YAML in the cell) and ``%workflow`` (runs, log, show, sandbox).

The magic parses arguments and calls the core; the engine runs on a loop thread
(``runner.LoopThreadRun``) while the cell blocks, the live view subscribes to the run's events,
and when the run ends the output is replaced by the static rendering. A run that ends waiting for
a person shows Approve / Reject buttons instead; a click resumes it in the background in the same
output area (``cell.CellRuns``). Only ``WorkflowError`` becomes a ``UsageError`` (a short message,
no traceback); anything else is our bug and keeps its traceback. The line form is ``lines``.

(Over 400 lines: some 120 of them are the option declarations, which must sit on the magic's
method to make its ``%%workflow?`` help; the rest is the run path of one cell and of a batch.)
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core import magic_arguments as _ma
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display as _display

from ..config import usd_option
from .advice import CELL_LINE_OFFSET, companion, did_you_mean, for_notebook, warnings_to_show
from .awaited import MARK
from .cell import ACTIVE, WAITING, Attempt, CellRuns
from .lines import LINE_HELP, format_backend, line_parser, run_command, runs_root
from .runner import RunInterrupted

if TYPE_CHECKING:
    from ..spec import WorkflowSpec
    from ..state import RunState

_F = TypeVar("_F", bound=Callable[..., Any])
_MA: Any = _ma  # IPython ships magic_arguments untyped; typed wrappers keep mypy --strict useful
display: Callable[..., Any] = _display


def argument(*args: Any, **kwargs: Any) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], _MA.argument(*args, **kwargs))


def magic_arguments() -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], _MA.magic_arguments())


def parse_argstring(magic: Callable[..., Any], line: str) -> argparse.Namespace:
    return cast(argparse.Namespace, _MA.parse_argstring(magic, line))


_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_SCALARS = (str, int, float, bool, Path)


def _usage(exc: BaseException) -> UsageError:
    """A short error for the notebook, through the sanitizer like everything shown there."""
    from ..sanitize import sanitize

    return UsageError(for_notebook(sanitize(str(exc))))


def _show_view_early() -> tuple[Any, Any]:
    """The live view, on screen before the spec and the engine are imported (a fresh kernel
    shows it in about the time of a plain ipywidgets widget); the run subscribes it later."""
    from ..widgets.view import RunView

    view = RunView()
    handle = display(dict(view.widget._repr_mimebundle_()), raw=True, display_id=True)
    return view, handle


def interpolation_variables(
    cell: str, user_ns: Mapping[str, Any], overrides: Mapping[str, str] = {}
) -> dict[str, str]:
    """``${name}`` values from the notebook's variables (scalars only), then ``--var`` ones.

    Names the notebook does not define are left to the environment and ``${name:-default}``.
    """
    out: dict[str, str] = {}
    for name in dict.fromkeys(_VAR_REF.findall(cell)):
        value = user_ns.get(name)
        if isinstance(value, _SCALARS):
            out[name] = str(value)
    out.update(overrides)
    return out


def parse_vars(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--var {item!r}: write it as NAME=VALUE")
        out[name] = value
    return out


def resolve_script(value: str | None, user_ns: Mapping[str, Any]) -> Any:
    """``--script``: the name of a dict variable in the notebook, else a file path."""
    if value is None:
        return None
    if value.isidentifier() and isinstance(user_ns.get(value), Mapping):
        return dict(user_ns[value])
    if Path(value).expanduser().is_file():
        return str(Path(value).expanduser())
    raise UsageError(
        f"--script {value}: no such file, and no dict variable named '{value}' in the notebook"
    )


def resolve_provider_name(value: str, user_ns: Mapping[str, Any]) -> Any:
    """``--provider``: a built-in provider name, or a notebook variable holding a provider."""
    from ..agents import PROVIDERS

    if value in PROVIDERS:
        return value
    obj = user_ns.get(value) if value.isidentifier() else None
    if obj is not None and callable(getattr(obj, "complete", None)):
        return obj
    import difflib

    close = difflib.get_close_matches(value, list(PROVIDERS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UsageError(
        f"--provider {value}: unknown provider{hint}; use one of {', '.join(PROVIDERS)} or the "
        "name of a notebook variable holding a Provider (an object with async complete())"
    )


@magics_class
class WorkflowMagics(Magics):
    """The ``workflow`` line and cell magic."""

    @magic_arguments()
    @argument(
        "-p",
        "--provider",
        default="auto",
        metavar="NAME_OR_VAR",
        help="Model provider: auto (default: a cassette or script next to the notebook, i.e. "
        "NAME.cassette.jsonl, cassette.jsonl, NAME.script.yaml or script.yaml in the current "
        "folder, NAME being the workflow's name; else anthropic with ANTHROPIC_API_KEY), "
        "scripted, replay, anthropic, or the name of a notebook variable holding a Provider "
        "object.",
    )
    @argument("-m", "--model", default=None, help="Model for every node (overrides the spec).")
    @argument(
        "-s",
        "--script",
        default=None,
        metavar="FILE_OR_VAR",
        help="Scripted provider answers: a YAML/JSON file, or the name of a dict variable.",
    )
    @argument("--latency", type=float, default=0.0, help="Scripted provider delay per call (s).")
    @argument("--cassette", default=None, metavar="FILE", help="Replay recorded answers.")
    @argument(
        "--record",
        default=None,
        metavar="FILE",
        help="Record the live model's answers to this cassette (anthropic provider).",
    )
    @argument("-j", "--max-concurrency", type=int, default=None, help="Nodes run at once.")
    @argument("--fail-fast", action="store_true", help="Stop the run at the first failure.")
    @argument("--no-cache", action="store_true", help="Do not reuse outputs from the node cache.")
    @argument(
        "--rerun",
        action="append",
        metavar="NODE",
        help="Run this node (and its downstream) again despite the cache (repeatable).",
    )
    @argument("--token-budget", type=int, default=None, help="Stop after this many tokens.")
    @argument(
        "--cost-budget",
        type=usd_option,
        default=None,
        metavar="USD",
        help="Stop after this many US dollars of model calls (e.g. 2.50).",
    )
    @argument("--sandbox", default=None, metavar="BACKEND", help="Force a sandbox backend.")
    @argument(
        "--staging",
        default=None,
        metavar="URL|openapi:FILE",
        help="Staging API of adaptive nodes that name none (default: $STAGING_URL).",
    )
    @argument(
        "--var",
        action="append",
        metavar="NAME=VALUE",
        help="Set ${NAME} (repeatable; notebook variables and the environment fill the rest).",
    )
    @argument("--runs-dir", default=None, help="Run folders root (default .nbworkflow/runs).")
    @argument(
        "--who",
        default=None,
        metavar="NAME",
        help="Who answers the approval buttons, in the decision log (default: the OS user).",
    )
    @argument(
        "-o", "--out", default=None, metavar="NAME", help="Bind the RunResult to this variable."
    )
    @argument("-q", "--quiet", action="store_true", help="No live view: one summary line.")
    @argument(
        "-b",
        "--background",
        action="store_true",
        help="Return at once; the view keeps updating (%%workflow cancel stops it).",
    )
    @argument(
        "--map",
        default=None,
        metavar="VAR_OR_FILE",
        help="Run the workflow once per item: a list (or DataFrame) variable, or a .jsonl/.csv "
        "file; ${item.field} in the YAML is filled from each item.",
    )
    @argument(
        "--cluster",
        default=None,
        metavar="local|ADDRESS",
        help="With --map: run the items on Dask (local: a LocalCluster; or a scheduler address).",
    )
    @argument(
        "--batch-id",
        default=None,
        metavar="ID",
        help="With --map: the same id resumes a batch (items that succeeded do not run again).",
    )
    @argument(
        "--items-at-once",
        type=int,
        default=None,
        metavar="N",
        help="With --map: items in flight at once (default 32 on one event loop).",
    )
    @line_cell_magic
    def workflow(self, line: str, cell: str | None = None) -> Any:
        """Run the workflow written as YAML in the cell body, and watch it live.

        ``${name}`` in the YAML is filled from the notebook's variables, then the environment.
        The cell blocks until the run ends (interrupt the kernel to cancel it); when the run
        ends, the live view is replaced by a static rendering that needs no kernel.
        """
        if cell is None:
            return self._line(line)
        # The kernel awaits this cell (magics.awaited): return a coroutine that waits.
        awaited = line.startswith(MARK)
        if awaited:
            line = line[len(MARK) :]
        magic = cast(Any, self).workflow
        try:
            args = parse_argstring(magic, line)
        except UsageError as exc:
            raise UsageError(did_you_mean(str(exc), magic.parser._option_string_actions)) from None
        if args.map is not None:
            return self._run_batch(args, cell, awaited)
        for name in ("cluster", "batch_id", "items_at_once"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name.replace('_', '-')} goes with --map VAR_OR_FILE")
        return self._run_cell(args, cell, awaited)

    # -- %%workflow ------------------------------------------------------------------------
    def _run_cell(self, args: argparse.Namespace, cell: str, awaited: bool = False) -> Any:
        from ..exceptions import WorkflowError

        if not cell.strip():
            raise UsageError("%%workflow: the cell is empty; write the workflow's YAML in it")
        user_ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        shown = None if args.quiet else _show_view_early()
        try:
            spec, variables, make_provider = self._prepare(args, cell, user_ns)
        except BaseException as exc:
            if shown is not None:  # a spec error runs nothing: no view either
                shown[1].update({"text/plain": ""}, raw=True)
            if isinstance(exc, WorkflowError):
                raise _usage(exc) from None
            raise
        cell_runs, attempt = self._launch(
            args, spec, variables, make_provider, user_ns, shown=shown
        )
        if attempt is None:
            return None
        if awaited:
            return self._settle_awaited(cell_runs, attempt)
        try:
            attempt.run.start()
            attempt.run.wait()
        except KeyboardInterrupt:
            # Also while starting: the run's thread may be going already, stop it before
            # settling (wait() has done so when the interrupt came there; this is then a no-op).
            attempt.run.cancel()
            attempt.run.join_after_cancel()
            self._settle(cell_runs, attempt, interrupted=True)
        except BaseException as exc:
            self._settle(cell_runs, attempt, error=exc)
        else:
            self._settle(cell_runs, attempt)
        return None

    def _run_batch(self, args: argparse.Namespace, cell: str, awaited: bool) -> Any:
        """``--map``: the cell's workflow over many items (``magics.batchcell``)."""
        from ..exceptions import WorkflowError
        from .batchcell import BatchCell, refuse_unfit

        refuse_unfit(args)
        if not cell.strip():
            raise UsageError("%%workflow: the cell is empty; write the workflow's YAML in it")
        user_ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        batch = BatchCell(
            args=args,
            cell=cell,
            user_ns=user_ns,
            variables=interpolation_variables(cell, user_ns, parse_vars(args.var)),
            provider=resolve_provider_name(args.provider, user_ns),
            script=resolve_script(args.script, user_ns),
            runs_root=runs_root(args.runs_dir),
            display=display,
        )

        async def settle_awaited() -> None:
            try:
                await batch.wait_async()
            except WorkflowError as exc:
                raise _usage(exc) from None

        try:
            batch.prepare()
            if awaited:
                return settle_awaited()
            batch.wait()
        except WorkflowError as exc:
            raise _usage(exc) from None
        return None

    async def _settle_awaited(self, cell_runs: CellRuns, attempt: Attempt) -> None:
        """The awaited cell: wait on the kernel's loop, so widget messages are handled."""
        attempt.run.start()
        try:
            await attempt.run.wait_async()
        except RunInterrupted:
            self._settle(cell_runs, attempt, interrupted=True)
        except BaseException as exc:
            self._settle(cell_runs, attempt, error=exc)
        else:
            self._settle(cell_runs, attempt)

    def _prepare(
        self, args: argparse.Namespace, cell: str, user_ns: Mapping[str, Any]
    ) -> tuple[WorkflowSpec, dict[str, str], Callable[[], tuple[Any, bool]]]:
        """The spec, its variables, and a maker of the provider for one run (with whether the
        run owns, and closes, it): a resumed run needs a fresh one."""
        from ..agents import resolve_provider
        from ..spec import load_workflow

        variables = interpolation_variables(cell, user_ns, parse_vars(args.var))
        # Count the %%workflow line, so "<cell>:6:5" is the editor's line 6.
        text = "\n" * CELL_LINE_OFFSET + cell
        spec = load_workflow(text=text, variables=variables, filename="<cell>")
        for line in warnings_to_show(spec.warnings):
            print(line, file=sys.stderr)
        options: dict[str, Any] = {}
        script = resolve_script(args.script, user_ns)
        if script is not None:
            options["script"] = script
        if args.cassette:
            options["cassette"] = args.cassette
        if args.record:
            options["record"] = args.record
        if args.latency:
            options["latency"] = args.latency
        if args.model:  # the run's model (RunOptions); a vendor router must know it too
            options["model"] = args.model
        provider_name = resolve_provider_name(args.provider, user_ns)
        if provider_name == "auto" and script is None and not args.cassette:
            # A cell has no spec file to sit next to: look next to the notebook instead.
            found = companion("cassette", spec.name)
            if found is not None:
                options["cassette"] = str(found)
            elif (found := companion("script", spec.name)) is not None:
                options["script"] = script = str(found)
        if not isinstance(provider_name, str):
            own = provider_name  # the notebook's own Provider object: never closed here
            return spec, variables, lambda: (own, False)
        if provider_name == "auto" and script is not None and not args.cassette:
            provider_name = "scripted"

        def make() -> tuple[Any, bool]:
            return resolve_provider(provider_name, spec=spec, **options), True

        try:
            first = make()
        except TypeError as exc:  # an option the chosen provider does not take
            raise UsageError(f"--provider {provider_name}: {exc}") from None
        made = [first]

        def make_once_then_fresh() -> tuple[Any, bool]:
            return made.pop() if made else make()

        return spec, variables, make_once_then_fresh

    def _launch(
        self,
        args: argparse.Namespace,
        spec: WorkflowSpec,
        variables: dict[str, str],
        make_provider: Callable[[], tuple[Any, bool]],
        user_ns: dict[str, Any],
        shown: tuple[Any, Any] | None = None,
    ) -> tuple[CellRuns, Attempt | None]:
        """Set up the cell's first run; its attempt, or None when it went to the background."""
        from ..approval import default_who
        from ..engine import secret_values
        from ..sanitize import sanitize

        secrets = secret_values(spec)

        def redact(text: str) -> str:
            return sanitize(text, secrets)

        cell = CellRuns(
            args=args,
            spec=spec,
            variables=variables,
            make_provider=make_provider,
            runs_root=runs_root(args.runs_dir),
            redact=redact,
            user_ns=user_ns,
            who=args.who or default_who(),
            display=display,
        )
        if shown is not None:
            cell.first_view, cell.handle = shown
        attempt = cell.start(cell.first_run(), first=True)
        if args.background:
            cell.run_in_background(attempt)
            if args.quiet:
                print(
                    f"workflow {spec.name} started in the background: run {attempt.run_id} "
                    f"({attempt.run_dir})"
                )
            return cell, None
        return cell, attempt

    def _settle(
        self,
        cell: CellRuns,
        attempt: Attempt,
        *,
        interrupted: bool = False,
        error: BaseException | None = None,
    ) -> None:
        """The end of the cell's own run: final view, then a short error if it did not succeed."""
        args, run_id, run_dir, state = cell.args, attempt.run_id, attempt.run_dir, attempt.state
        if interrupted:
            cell.finalize(attempt)
            raise UsageError(
                f"run {run_id} cancelled by a kernel interrupt: "
                f"{_counts_text(state)}; log in {run_dir}"
            ) from None
        if error is not None:
            cell.finalize(attempt)
            from ..exceptions import WorkflowError

            if isinstance(error, WorkflowError):
                raise _usage(error) from None
            raise error
        result = cell.finalize(attempt)
        if result is not None and not result.ok:
            from ..widgets.static import failure_summary

            if result.status.value == "waiting":  # ended cleanly, a person decides next
                if args.quiet:
                    print(
                        f"run {run_id} is waiting: {failure_summary(state)}. Continue it with "
                        f"`nbworkflow resume {run_id} --approve` (or --reject)"
                    )
                return

            raise UsageError(
                f"run {run_id} {result.status.value}: {failure_summary(state)} "
                f"(details: %workflow log {run_id})"
            )

    # -- %workflow ---------------------------------------------------------------------
    def _line(self, line: str) -> None:
        from ..exceptions import WorkflowError

        if not line.strip() or line.strip() in ("help", "-h", "--help"):
            print(LINE_HELP)
            return
        args = line_parser().parse_args(shlex.split(line))
        try:
            run_command(args, display)
        except WorkflowError as exc:
            raise _usage(exc) from None


def _counts_text(state: RunState) -> str:
    counts = state.counts()
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no nodes"


# IPython's magic_arguments starts the help with "::" (a reST literal block marker), which
# `%%workflow?` showed as "Docstring: ::".
WorkflowMagics.workflow.__doc__ = (
    (WorkflowMagics.workflow.__doc__ or "").replace("::\n\n  %workflow", "Usage: %%workflow", 1)
    + "\n"
    + LINE_HELP
)


__all__ = [
    "ACTIVE",
    "WAITING",
    "WorkflowMagics",
    "format_backend",
    "interpolation_variables",
    "parse_vars",
    "resolve_script",
]
