"""Naive baseline of the benchmark in issue 4: the rule pack in a Python KeyedProcessFunction.

Every event crosses into Python on its own. Per customer, the function keeps the raw lines in a
``ListState`` and, on each event, re-parses the whole history and runs the reference evaluator
(``journey_triggers.semantics.evaluator.evaluate_rules``) over it, emitting the decisions it has
not emitted before. Evaluation follows arrival order (no watermark buffering, no timers), so the
output is not deterministic and may differ from the real job: this is a cost baseline, not a
correct implementation. Rejected records are dropped.

Run it with::

    .venv/bin/python -m tests.perf.naive --input FILE --rules rules/standard.yaml \
        --output-dir DIR [--parallelism 2] [--mode thread|process]

It prints one JSON line: ``{"events": ..., "seconds": ..., "decisions": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from journey_triggers.events import Event, parse_event
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules


def _key_line(line: str) -> Iterator[tuple[str, str]]:
    """Yield ``(customer_key, line)`` for a valid event; drop rejections."""
    event = parse_event(line)
    if isinstance(event, Event):
        yield event.customer_key, line


def _process_function(rules_path: str) -> Any:
    """Return the KeyedProcessFunction; it keeps only the rules' path until ``open()``."""
    from pyflink.common import Types
    from pyflink.datastream import KeyedProcessFunction
    from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

    class NaiveRules(KeyedProcessFunction):  # type: ignore[misc]
        def __init__(self, path: str) -> None:
            self.path = path

        def open(self, runtime_context: Any) -> None:
            self.rules = [item.rule for item in load_rules([self.path]) if item.rule.enabled]
            self.lines = runtime_context.get_list_state(
                ListStateDescriptor("lines", Types.STRING())
            )
            self.emitted = runtime_context.get_map_state(
                MapStateDescriptor("emitted", Types.STRING(), Types.BOOLEAN())
            )

        def process_element(self, value: tuple[str, str], ctx: Any) -> Iterator[str]:
            self.lines.add(value[1])
            history = [e for e in map(parse_event, self.lines.get()) if isinstance(e, Event)]
            for decision in evaluate_rules(self.rules, history):
                if not self.emitted.contains(decision.decision_id):
                    self.emitted.put(decision.decision_id, True)
                    yield json.dumps(decision.to_record(), sort_keys=True)

    return NaiveRules(rules_path)


def count_decisions(output_dir: Path) -> int:
    """Count the lines of the sink's finished part files (hidden in-progress files skipped)."""
    return sum(
        len(path.read_text(encoding="utf-8").splitlines())
        for path in output_dir.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )


def run(input_path: str, rules_path: str, output_dir: str, parallelism: int, mode: str) -> float:
    """Build and execute the job; return the wall seconds of ``env.execute()``."""
    from pyflink.common import Configuration, Encoder, Types, WatermarkStrategy
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.datastream.connectors.file_system import FileSink, FileSource, StreamFormat

    from jobs.triggers_job import use_this_python

    use_this_python()
    config = Configuration()
    config.set_string("python.execution-mode", mode)
    config.set_string("python.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(parallelism)
    source = FileSource.for_record_stream_format(
        StreamFormat.text_line_format(), str(Path(input_path).resolve())
    ).build()
    sink = FileSink.for_row_format(
        str(Path(output_dir).resolve()), Encoder.simple_string_encoder()
    ).build()
    (
        env.from_source(source, WatermarkStrategy.no_watermarks(), "events")
        .flat_map(_key_line, output_type=Types.TUPLE([Types.STRING(), Types.STRING()]))
        .key_by(lambda pair: pair[0], key_type=Types.STRING())
        .process(_process_function(rules_path), output_type=Types.STRING())
        .sink_to(sink)
    )
    start = time.perf_counter()
    env.execute("journey-triggers-naive-baseline")
    return time.perf_counter() - start


def main() -> None:
    """Parse flags, run the baseline and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--input", required=True, help="JSON-lines file of raw events")
    parser.add_argument("--rules", required=True, help="rule file, e.g. rules/standard.yaml")
    parser.add_argument("--output-dir", required=True, help="empty or new directory for decisions")
    parser.add_argument("--parallelism", type=int, default=2, help="default: 2")
    parser.add_argument("--mode", choices=("thread", "process"), default="thread")
    args = parser.parse_args()
    output_dir = Path(args.output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        parser.error(f"--output-dir {output_dir} is not empty")
    with open(args.input, encoding="utf-8") as lines:
        events = sum(1 for _ in lines)
    seconds = run(args.input, args.rules, args.output_dir, args.parallelism, args.mode)
    decisions = count_decisions(output_dir)
    print(json.dumps({"events": events, "seconds": round(seconds, 3), "decisions": decisions}))


if __name__ == "__main__":
    main()
