"""The docs' examples, run as a reader runs them, so the docs cannot drift from the server.

`make serve` starts the demo model as the README says; then every README shell block that shows
an answer runs in bash from the checkout, each command's stdout compared with the `# ...` lines
under it (a command with none must print nothing). `$scratch` in an answer stands for the scratch
directory the block made. Every curl example anywhere in the docs must show its answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.harness import REPO, free_port, wait_until_ready

pytestmark = pytest.mark.server

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SEPARATOR = "\x1e"  # printed between commands, so each command's output can be told apart


@dataclass
class Example:
    where: str  # file:line of the command
    command: str
    answer: list[str]  # the `# ...` lines under it


@dataclass
class Block:
    where: str
    examples: list[Example]

    @property
    def shows_answers(self) -> bool:
        return any(example.answer for example in self.examples)


def shell_blocks(path: Path) -> list[Block]:
    blocks, lines, start = [], path.read_text(encoding="utf-8").splitlines(), None
    for number, line in enumerate(lines, start=1):
        if start is None and line.strip() == "```sh":
            start = number
        elif start is not None and line.strip() == "```":
            blocks.append(
                Block(f"{path.name}:{start}", examples_in(path.name, start, lines[start : number - 1]))
            )
            start = None
    return blocks


def examples_in(name: str, first: int, lines: list[str]) -> list[Example]:
    """Commands (a line ending in `\\` or `|` continues into the next) and the answer lines under each."""
    examples: list[Example] = []
    continued = False
    for number, line in enumerate(lines, start=first + 1):
        if continued:
            examples[-1].command += "\n" + line
        elif line.startswith("#") and examples:
            examples[-1].answer.append(line[2:])
        elif line.strip():
            examples.append(Example(f"{name}:{number}", line, []))
        continued = line.rstrip().endswith(("\\", "|"))
    return examples


README_BLOCKS = [block for block in shell_blocks(REPO / "README.md") if block.shows_answers]
CURL_EXAMPLES = [
    example
    for path in DOCS
    for block in shell_blocks(path)
    for example in block.examples
    if "curl " in example.command
]


def start_make_serve(logs: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`make serve` with nothing set but a free port (and two workers), stdout and stderr kept apart."""
    port = free_port()
    environment = {
        name: value for name, value in os.environ.items() if name not in ("BYOM_HOST", "SM_MODEL_DIR")
    }
    environment.update(SAGEMAKER_BIND_TO_PORT=str(port), SAGEMAKER_MODEL_SERVER_WORKERS="2")
    with (logs / "stdout").open("wb") as stdout, (logs / "stderr").open("wb") as stderr:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "serve"], cwd=REPO, env=environment,
            stdout=stdout, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    wait_until_ready(
        f"http://127.0.0.1:{port}", lambda: server.poll() is None, (logs / "stderr").read_text, 300
    )
    return server, port


@pytest.fixture(scope="module")
def make_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Path]]:
    logs = tmp_path_factory.mktemp("make-serve")
    server, port = start_make_serve(logs)
    try:
        yield port, logs / "stdout", logs / "stderr"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def run_block(block: Block, port: int) -> tuple[list[str], str]:
    """Each command's stdout, and the block's $scratch (if it made one)."""
    script = ["set -euo pipefail"]
    for example in block.examples:
        script += [example.command.replace("localhost:8080", f"localhost:{port}"), f"printf '{SEPARATOR}'"]
    script.append('printf "%s" "${scratch-}"')
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{done.stderr}"
    *outputs, scratch = done.stdout.split(SEPARATOR)
    return outputs, scratch


@pytest.mark.parametrize("block", README_BLOCKS, ids=[block.where for block in README_BLOCKS])
def test_each_readme_example_answers_what_the_readme_shows(
    block: Block, make_serve: tuple[int, Path, Path]
) -> None:
    port = make_serve[0]
    for _ in range(2):  # and it can run again: nothing it left behind gets in the way
        outputs, scratch = run_block(block, port)
        for example, output in zip(block.examples, outputs, strict=True):
            shown = [line.replace("$scratch", scratch) for line in example.answer]
            assert output.splitlines() == shown, f"{example.where}: {example.command}"


def test_the_readme_shows_its_examples() -> None:
    """The collector finds what the README holds: a guard against a parser that finds nothing."""
    commands = [example.command for block in README_BLOCKS for example in block.examples]
    assert len(commands) >= 10 and sum("curl " in command for command in commands) == 9


@pytest.mark.parametrize("example", CURL_EXAMPLES, ids=[example.where for example in CURL_EXAMPLES])
def test_every_curl_example_in_the_docs_shows_its_answer(example: Example) -> None:
    assert example.answer, f"{example.where}: show what `{example.command.splitlines()[0]}` answers"


def test_make_serve_listens_on_this_machine_only_and_logs_requests_alone_on_stdout(
    make_serve: tuple[int, Path, Path],
) -> None:
    port, stdout, stderr = make_serve
    assert re.search(rf"byom: serving \S+ \(\w+\) on 127\.0\.0\.1:{port} ", stderr.read_text()), (
        stderr.read_text()
    )
    lines = stdout.read_text().splitlines()
    assert lines and all(json.loads(line)["path"] in ("/ping", "/invocations") for line in lines)


def test_stopping_make_serve_stops_the_server(tmp_path: Path) -> None:
    """`kill %1` without job control, or a supervisor, signals make alone: the server must stop too."""
    server, _ = start_make_serve(tmp_path)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        try:
            os.killpg(server.pid, 0)  # anything left of the group make led?
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(server.pid, signal.SIGKILL)
    pytest.fail("the server outlived make")
