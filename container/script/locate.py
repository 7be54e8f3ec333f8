"""Where the inference script is, and whether it may run.

Owns the rules: the script runs only when `SAGEMAKER_PROGRAM` names it (as the SageMaker SDK sets
it): that is the operator's consent, as BYOM_ALLOW_PICKLE is for pickles. It is looked for in
`SAGEMAKER_SUBMIT_DIRECTORY` (a directory; `file://` is taken off), else in the model directory's
`code/` (where the SDK's repack puts it), else in `$SAGEMAKER_BASE_DIR/code` (where local mode
mounts it). A `code/` folder without the variable is never run, and `unconsented` says how to run
it. In multi-model mode the variable is the consent for every model: a model's own
`code/<SAGEMAKER_PROGRAM>` serves it, else the endpoint's script (as above, less the model
directory), else the built-in path. Reads files' names and the script's text only: never imports
or runs it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from container.errors import ConfigurationError
from container.settings import Settings

HOOK_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class Script:
    path: Path  # the script file
    module: str | None = None  # the name it is imported under, when not its file's

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def module_name(self) -> str:
        return self.module or self.path.stem

    @property
    def lib(self) -> Path:
        """Vendored packages (`pip install -t code/lib ...`), importable beside the script."""
        return self.directory / "lib"

    @property
    def requirements(self) -> Path:
        return self.directory / REQUIREMENTS

    def defined_hooks(self) -> frozenset[str]:
        """The hooks its text defines at the top level, read without running it (the gunicorn master
        decides from this whether to preload a model; the import in each worker is what counts)."""
        try:
            tree = ast.parse(self.path.read_bytes(), filename=str(self.path))
        except (OSError, SyntaxError, ValueError):
            return frozenset()  # the import in the workers reports it
        names: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
            elif isinstance(node, ast.ImportFrom):
                names |= {alias.asname or alias.name for alias in node.names}
        return frozenset(names) & frozenset(HOOK_NAMES)


def loads_its_own_model(settings: Settings) -> bool:
    """Whether the script's model_fn loads the model, so the model directory need not hold a file
    this container serves (and the gunicorn master preloads nothing)."""
    script = find_script(settings)
    return script is not None and "model_fn" in script.defined_hooks()


def code_directories(settings: Settings) -> list[Path]:
    if settings.submit_directory:
        return [Path(settings.submit_directory.removeprefix("file://"))]
    return [settings.model_dir / "code", settings.base_dir / "code"]


def find_script(settings: Settings) -> Script | None:
    """The script SAGEMAKER_PROGRAM names, or None when it is not set; ConfigurationError when it
    names something that is not there."""
    program = settings.program
    if program is None:
        return None
    if settings.submit_directory and settings.submit_directory.startswith("s3://"):
        raise ConfigurationError(
            f"SAGEMAKER_SUBMIT_DIRECTORY={settings.submit_directory}: this container downloads nothing; "
            "put the code in the model archive's code/ folder (the SageMaker SDK does when "
            "Model(entry_point=..., source_dir=...) repacks model_data)"
        )
    if Path(program).name != program or not program.endswith(".py"):
        raise ConfigurationError(
            f"SAGEMAKER_PROGRAM={program!r}: expected a Python file name, such as inference.py"
        )
    directories = code_directories(settings)
    for directory in directories:
        if (directory / program).is_file():
            return Script(directory / program)
    looked = ", ".join(str(directory) for directory in directories)
    raise ConfigurationError(f"SAGEMAKER_PROGRAM={program}: no such file in {looked}")


def find_model_script(settings: Settings, name: str) -> Script | None:
    """In multi-model mode, the script of the model in settings.model_dir: its own (imported as
    `inference[NAME]`, so models' scripts of the same file name never meet), else the endpoint's,
    else None."""
    program = settings.program
    if program is None:
        return None
    own = settings.model_dir / "code" / program
    if own.is_file():
        return Script(own, f"{own.stem}[{name}]")
    shared = [Path(settings.submit_directory.removeprefix("file://"))] if settings.submit_directory else []
    for directory in [*shared, settings.base_dir / "code"]:
        if (directory / program).is_file():
            return Script(directory / program)
    return None


def unconsented(settings: Settings) -> str | None:
    """What to say about a code/ folder that will not run because SAGEMAKER_PROGRAM is not set."""
    if settings.program is not None:
        return None
    for directory in code_directories(settings):
        scripts = sorted(path.name for path in directory.glob("*.py")) if directory.is_dir() else []
        if scripts:
            return (
                f"{directory} holds {', '.join(scripts)}, which does not run: model code runs only when "
                f"SAGEMAKER_PROGRAM names it (e.g. SAGEMAKER_PROGRAM={scripts[0]})"
            )
    return None
