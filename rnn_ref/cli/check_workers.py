"""``rnn-ref check -j N``: one live engine's cases run in N worker processes.

The cases are cut into chunks of ``CHUNK`` consecutive cases (a case's gradient runs beside its
forward, as in one process) and handed to a pool of N spawned processes; each worker loads the
engine once and judges its chunks exactly as ``check.live`` does (``check.run_cases``: the same
guards and bounds), and the parent puts the verdicts back in matrix order, so the report is the
one a single process writes. Workers start with ``cpu_count // N`` BLAS/OpenMP threads each
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, unless the environment sets
them): N processes of the default thread count would oversubscribe the cores. A worker whose
engine does not return stops the run as one process stops: the cases not run are reported so.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field

from rnn_ref.adapters import engine_info
from rnn_ref.cases.matrix import Case, case_by_id
from rnn_ref.cli.check import EngineReport, Progress, loaded, not_run_problem, run_cases
from rnn_ref.judge.runner import CaseResult

#: Cases per chunk: small enough to spread the slow cases, large enough that a chunk's
#: pickling and hand-over cost nothing beside its runs.
CHUNK = 24
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class ChunkOutcome:
    """What a worker sends back for one chunk."""

    version: str = ""
    results: list[CaseResult] = field(default_factory=list)
    gradient_results: list[CaseResult] = field(default_factory=list)
    problem: str | None = None  # the engine did not load
    not_returned: str | None = None  # a call did not return: the chunk's later cases were not run


def run_chunk(engine: str, case_ids: list[str], seconds: float | None) -> ChunkOutcome:
    """In a worker: ``case_ids`` judged on ``engine`` (loaded once per worker process)."""
    try:
        adapter, version = _worker_adapter(engine, seconds)
    except Exception as error:  # as check.live: the engine is found but does not import
        return ChunkOutcome(problem=f"{type(error).__name__}: {error}")
    report = EngineReport(engine, "live")
    why = run_cases(adapter, [case_by_id(case_id) for case_id in case_ids], report, seconds)
    return ChunkOutcome(version, report.results, report.gradient_results, not_returned=why)


_LOADED: dict[str, tuple] = {}


def _worker_adapter(engine: str, seconds: float | None) -> tuple:
    if engine not in _LOADED:
        _LOADED[engine] = loaded(engine, seconds)
    return _LOADED[engine]


def live_in_workers(engine: str, cases: list[Case], jobs: int, progress: Progress | None,
                    seconds: float | None) -> EngineReport:
    """``check.live`` of ``engine`` over ``cases``, in ``jobs`` worker processes."""
    chunks = [cases[start:start + CHUNK] for start in range(0, len(cases), CHUNK)]
    if progress:
        progress(engine, 0, len(cases), f"importing {engine_info(engine).requires} in {jobs} worker processes")
    outcomes: dict[int, ChunkOutcome] = {}
    stopped: str | None = None
    with threads_per_worker(jobs), ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: dict[Future, int] = {
            pool.submit(run_chunk, engine, [case.id for case in chunk], seconds): number
            for number, chunk in enumerate(chunks)}
        done_cases = 0
        while pending and stopped is None:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                number = pending.pop(future)
                outcome = outcomes[number] = future.result()
                done_cases += len(chunks[number])
                stopped = outcome.problem or outcome.not_returned
                if progress and stopped is None:
                    progress(engine, done_cases, len(cases), chunks[number][-1].id)
        for future in pending:
            future.cancel()
    return merged_report(engine, cases, chunks, outcomes)


def merged_report(engine: str, cases: list[Case], chunks: list[list[Case]],
                  outcomes: dict[int, ChunkOutcome]) -> EngineReport:
    """One report from the chunks' outcomes, in matrix order, up to the first chunk that stopped."""
    problem = next((o.problem for o in outcomes.values() if o.problem), None)
    if problem is not None:
        return EngineReport(engine, "live", problem=problem)
    version = next((o.version for o in outcomes.values()), "")
    report = EngineReport(engine, f"live, {version}", origin="live", version=version)
    for number in range(len(chunks)):
        outcome = outcomes.get(number)
        if outcome is None:  # cancelled after a call elsewhere did not return
            continue
        report.results += outcome.results
        report.gradient_results += outcome.gradient_results
    why = next((o.not_returned for o in outcomes.values() if o.not_returned), None)
    if why is not None:
        report.problem = not_run_problem(len(cases), report, why)
    return report


@contextmanager
def threads_per_worker(jobs: int) -> Iterator[None]:
    """The thread variables the spawned workers start with: the CPUs' share of one worker."""
    share = str(max(1, (os.cpu_count() or 1) // jobs))
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, share)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
