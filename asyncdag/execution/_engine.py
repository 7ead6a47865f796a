"""The one entry that runs a plan: for the driver (the root block) and for a worker (one
block instance of an item).

:func:`execute` makes the :class:`~asyncdag.execution._run.Run`, the instance, and the
:class:`Placement` that tells, per block, how sync steps and block instances run (asked of
the executors once per block and run); it makes the run current for everything the run
starts (``asyncdag._calls``), waits for it, and returns the instance's outcome or raises the
run's failure. Nothing of the run is left running when it returns or raises.
"""

from __future__ import annotations

from typing import Any

from asyncdag import _calls
from asyncdag.execution._fanout import Expansion
from asyncdag.execution._instance import Instance
from asyncdag.execution._outcome import DONE, Outcome
from asyncdag.execution._plan import BlockPlan, ExpandStep
from asyncdag.execution._run import Event, Run
from asyncdag.lifecycle._hooks import HookSet

__all__ = ["Event", "Placement", "execute"]


class Placement:
    """Where a run's work goes: nodes outside blocks by the ``local`` executor, block
    instances by the ``remote`` one. ``private_loop``: the run's loop serves nothing else
    (``execute()``), which some executors use to run cheap sync code inline."""

    __slots__ = ("group_blocks", "local", "private_loop", "remote")

    def __init__(
        self, local: Any, remote: Any, *, private_loop: bool, group_blocks: bool = True
    ) -> None:
        self.local = local
        self.remote = remote
        self.private_loop = private_loop
        self.group_blocks = group_blocks

    def calls_for(self, block: BlockPlan) -> Any:
        executor = self.local if not block.scope else self.remote
        return executor.sync_calls(private_loop=self.private_loop)

    def dispatch_for(self, block: BlockPlan, run: Run) -> Any:
        return self.remote.dispatch(
            block, run, private_loop=self.private_loop, group_blocks=self.group_blocks
        )


async def execute(
    block: BlockPlan,
    values: dict[str, Any],
    placement: Placement,
    *,
    run_id: str,
    window: int,
    resources: Any,
    hooks: HookSet | None = None,
    events: Any = None,
    parent: Any = None,
    index: tuple[int, ...] = (),
    summarize: bool = True,
) -> Outcome:
    """Run one instance of ``block`` with ``values`` (and, for an item in a worker, the outer
    values in ``parent``: frames with ``values`` and ``parent``) to its end.

    Returns ``DONE`` (the values are in ``values``) or ``Ended`` (an error policy ended the
    item); raises the run's failure, or the cancellation of the caller. ``summarize``: log
    the one warning about items that error policies ended (the driver's runs do).
    """
    run = Run(run_id=run_id, window=window, resources=resources, hooks=hooks, events=events)
    caller = _calls.current_call()
    if caller is not None and caller.held is not None:
        run.held = frozenset((caller.held,))
    else:
        outer = _calls.current_run()  # a run started from a node of another run
        if outer is not None and outer.limiters:
            run.held = outer.limiters

    def open_expansion(inst: Instance, i: int, step: ExpandStep) -> None:
        # the run comes from the instance, not from this scope: the run holds this function,
        # and a reference back would make every run a cycle, garbage only a full collection
        # of the cyclic collector frees (under a web app's load: a pause of milliseconds)
        child = step.child
        dispatch = placement.dispatch_for(child, inst.run)
        Expansion(inst, i, step, dispatch, placement.calls_for(child)).start()

    run.open_expansion = open_expansion
    result: list[Outcome] = []

    def done(_: Instance, outcome: Outcome) -> None:
        result.append(outcome)
        run.finish()

    inst = Instance(run, block, values, parent, index, placement.calls_for(block), done)
    token = _calls.enter_run(run.info)  # every task of the run inherits it
    try:
        inst.start()
        await run.wait()
    finally:
        _calls.exit_run(token)
        if run.at_end is not None:
            ends, run.at_end = run.at_end, None
            for end in ends:
                end()
        if summarize:
            run.summarize_ended()
    return result[0] if result else DONE
