"""The command line starts light: its parser and help load no heavy library, and a command
loads only what it runs on (``make bench-cli`` measures the time this saves).

Each check is a fresh interpreter, since this test session has imported everything already;
what it loaded is read from its ``sys.modules``, never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from db.schema import upgrade
from db.session import make_engine
from services.cli.main import COMMANDS
from services.settings import PROJECT_ROOT
from tests.factories import make_model

#: Libraries that take a tenth of a second or more to import, none needed to parse arguments.
HEAVY = ("sqlalchemy", "alembic", "pandas", "numpy", "scipy", "sklearn", "pyarrow",
         "pydantic", "pydantic_settings")

_LOADED = f"""
import json, sys
heavy = {HEAVY!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def _loaded_after(code: str, var: Path) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    env = {**os.environ, "OPSDASH_VAR_DIR": str(var), "OPSDASH_DATABASE_URL": ""}
    done = subprocess.run([sys.executable, "-c", code + _LOADED], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_building_the_parser_loads_no_heavy_library(tmp_path: Path) -> None:
    code = "from services.cli.main import build_parser\nbuild_parser()\n"
    assert _loaded_after(code, tmp_path) == []


def test_help_of_every_command_loads_no_heavy_library(tmp_path: Path) -> None:
    helps = [[], *(name.split() for name in sorted(COMMANDS)), ["users"]]
    code = (
        "import contextlib, io\n"
        "from services.cli.main import main\n"
        f"for args in {helps!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            main([*args, '--help'])\n"
        "        except SystemExit as exited:\n"
        "            assert exited.code == 0, (args, exited.code)\n"
        "    assert 'usage:' in out.getvalue(), args\n"
    )
    assert _loaded_after(code, tmp_path) == []


def test_a_bad_argument_is_refused_without_loading_a_heavy_library(tmp_path: Path) -> None:
    code = (
        "import contextlib, io\n"
        "from services.cli.main import main\n"
        "with contextlib.redirect_stderr(io.StringIO()) as err:\n"
        "    try:\n"
        "        main(['metrics', '--model', 'churn', '--version', 'two'])\n"
        "    except SystemExit as exited:\n"
        "        assert exited.code == 2, exited.code\n"
        "assert \"argument --version: invalid int value: 'two'\" in err.getvalue()\n"
    )
    assert _loaded_after(code, tmp_path) == []


def test_metrics_loads_no_migrations_file_reader_drift_statistics_or_model_library(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'opsdash.db'}")
    try:
        upgrade(engine)
        make_model(engine, name="churn")
    finally:
        engine.dispose()
    code = (
        "import contextlib, io, json\n"
        "from services.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    status = main(['metrics', '--model', 'churn', '--json'])\n"
        "assert status == 0, status\n"
        "assert json.loads(out.getvalue())['n_labelled'] == 0, out.getvalue()\n"
    )
    loaded = {name.split(".")[0] for name in _loaded_after(code, tmp_path)}
    assert loaded.isdisjoint({"alembic", "pandas", "scipy", "sklearn", "pyarrow"}), loaded
