"""``python -m sim run|replay|search``: scenario files from the command line.

    python -m sim run fixtures/scenarios/*.yaml [--env-file stack.env] [--seed N] [--timeline OUT.html]
    python -m sim replay FILE
    python -m sim search [--examples N] [--seed N] [--out DIR]

Exit status 0 only when every expectation held. A failed run prints its seed and writes a scenario
file that reproduces it (``replay`` runs it again). A file with a step the ``--env-file`` stack cannot
run is refused before its first step, naming the step: exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the scenario commands to ``python -m sim``'s sub-commands."""
    run = commands.add_parser("run", help="run scenario files; exit 0 only when every expectation held")
    run.add_argument("files", nargs="+", type=Path, help="scenario files (YAML)")
    run.add_argument("--env-file", help="run against the stack this env file describes (python -m sim up)")
    run.add_argument("--seed", type=int, help="instead of each file's own seed")
    run.add_argument("--timeline", type=Path, help="write the run's timeline here (HTML)")
    run.add_argument("--out", type=Path, default=Path("."), help="where a failed run's reproduction goes")
    run.set_defaults(handler=lambda args: asyncio.run(_run(args)))

    replay = commands.add_parser("replay", help="run one scenario file again, with its own seed")
    replay.add_argument("file", type=Path)
    replay.add_argument("--env-file", help="against the stack this env file describes")
    replay.add_argument("--timeline", type=Path, help="write the run's timeline here (HTML)")
    replay.set_defaults(handler=lambda args: asyncio.run(_replay(args)))

    search = commands.add_parser("search", help="look for a breach of the contract's rules (hypothesis)")
    search.add_argument("--examples", type=int, default=20, help="how many scenarios to try")
    search.add_argument("--seed", type=int, default=0, help="the search's own seed")
    search.add_argument("--out", type=Path, default=Path("."), help="where the shrunk failure goes")
    search.set_defaults(handler=_search)


def _timeline_path(base: Path | None, file: Path, several: bool) -> Path | None:
    if base is None:
        return None
    return base.with_name(f"{base.stem}-{file.stem}{base.suffix}") if several else base


async def _run(args: argparse.Namespace) -> int:
    from sim.scenarios.files import dump_scenario, load_scenario
    from sim.scenarios.logs import quiet_logs
    from sim.scenarios.model import ScenarioError
    from sim.scenarios.runner import run_scenario

    quiet_logs()
    failed = 0
    for file in args.files:
        scenario = load_scenario(file)
        try:
            run = await run_scenario(scenario, seed=args.seed, env_file=args.env_file,
                                     timeline_file=_timeline_path(args.timeline, file, len(args.files) > 1))
        except ScenarioError as exc:  # a step this stack cannot run: refused before the first step
            print(f"{file}: {exc}", file=sys.stderr, flush=True)
            return 2
        print(run.report(), flush=True)
        if not run.passed:
            failed += 1
            args.out.mkdir(parents=True, exist_ok=True)
            reproduction = dump_scenario(scenario.with_seed(run.seed), args.out / f"{file.stem}.seed{run.seed}.yaml",
                                         comment=f"failed with seed {run.seed}:\n" + "\n".join(run.failures)
                                         + f"\nreplay: python -m sim replay {args.out / file.stem}"
                                           f".seed{run.seed}.yaml")
            print(f"  seed {run.seed}; reproduce with: python -m sim replay {reproduction}", flush=True)
    return 1 if failed else 0


async def _replay(args: argparse.Namespace) -> int:
    from sim.scenarios.files import load_scenario
    from sim.scenarios.logs import quiet_logs
    from sim.scenarios.model import ScenarioError
    from sim.scenarios.runner import run_scenario

    quiet_logs()
    try:
        run = await run_scenario(load_scenario(args.file), env_file=args.env_file, timeline_file=args.timeline)
    except ScenarioError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr, flush=True)
        return 2
    print(run.report())
    digest = hashlib.sha256("\n".join(run.fingerprint()).encode()).hexdigest()[:16]
    print(f"  the fakes' journal: {len(run.fingerprint())} entries, fingerprint {digest}")
    return 0 if run.passed else 1


def _search(args: argparse.Namespace) -> int:
    try:
        from sim.scenarios.search import search
    except ImportError as exc:  # hypothesis is a development dependency
        print(f"python -m sim search needs the development dependencies ({exc.name} is missing)", file=sys.stderr)
        return 2
    from sim.scenarios.logs import quiet_logs

    quiet_logs()
    found = search(examples=args.examples, seed=args.seed, out=args.out)
    if found is None:
        print(f"no rule broken in {args.examples} scenarios (seed {args.seed})")
        return 0
    print(f"a rule broke; the shrunk scenario is {found}\n  replay: python -m sim replay {found}")
    return 1
