"""Mistakes the person running ``mapay`` must fix, each as one Chinese line and exit code 2, never a traceback.

A deployer meets these first, often in a container that restarts on every failure: a setting out of its
range, a data folder the process may not write, a key file it may not read, an account that already exists.
``problem_of`` turns the exceptions they surface as into a :class:`CliProblem`; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from agent.crypto import SecretKeyError
from agent.settings import Settings

EXIT_CODE = 2
_SECRET_WORDS = ("secret", "password", "token", "key")  # their values are never echoed
_KINDS = {
    "int_parsing": "应为整数", "int_from_float": "应为整数", "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false", "ip_any_network": "应为 IP 地址或 CIDR 网段（如 10.0.0.0/8），以空格或逗号分隔",
    "json_invalid": "应为 JSON", "list_type": "应为列表",
}


class CliProblem(Exception):
    """Something the person must fix; ``str()`` is the one line to print."""


def report(problem: CliProblem) -> int:
    print(f"错误：{problem}", file=sys.stderr)
    return EXIT_CODE


def settings_problem(error: ValidationError) -> CliProblem:
    """Every bad ``MAPAY_*`` variable, with what it may be."""
    return CliProblem("；".join(_setting_line(detail) for detail in error.errors()))


def _setting_line(detail: Any) -> str:
    name = str(detail["loc"][0]) if detail["loc"] else ""
    variable = f"MAPAY_{name.upper()}"
    field = Settings.model_fields.get(name)
    shown = variable
    if field is not None and field.annotation is not SecretStr and not any(w in name for w in _SECRET_WORDS):
        shown = f"{variable}={detail['input']}" if isinstance(detail.get("input"), str | int | float) else variable
    kind = detail["type"]
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal") and field is not None:
        return f"{shown} 超出允许范围：{_range(field.metadata)}"
    if kind == "literal_error" and field is not None:
        return f"{shown} 无效：可选值为 {'、'.join(str(v) for v in typing.get_args(field.annotation))}"
    if kind == "missing":
        return f"缺少必需的设置 {variable}"
    return f"{shown} 无效：{_KINDS.get(kind, detail['msg'])}（说明见 agent/settings.py）"


def _range(metadata: list[Any]) -> str:
    bounds = {"ge": "", "gt": "", "le": "", "lt": ""}
    for item in metadata:
        for bound in bounds:
            if isinstance(value := getattr(item, bound, None), int | float):
                bounds[bound] = f"{value:g}"
    if bounds["ge"] and bounds["le"]:
        return f"应在 {bounds['ge']} 到 {bounds['le']} 之间"
    words = {"ge": "不小于", "gt": "大于", "le": "不大于", "lt": "小于"}
    parts = [f"{words[b]} {v}" for b, v in bounds.items() if v]
    return "应" + " 且".join(parts) if parts else "见 agent/settings.py"


def check_data_folder(data_dir: Path) -> None:
    """Refuse to start when the data folder (or a file in it) is not ours to write; a full disk is not refused.

    The gateway starts on a full or read-only disk on purpose (it serves reads and recovers by itself), so only
    a permission error counts here.
    """
    folder = Path(os.path.abspath(data_dir))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        parent = next((p for p in folder.parents if p.exists()), folder)
        raise CliProblem(f"无法创建数据目录 {folder}：{_fix(parent, folder=True)}") from None
    except OSError:
        return
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except PermissionError:
        raise CliProblem(f"数据目录 {folder} 不可写：{_fix(folder, folder=True)}") from None
    except OSError:
        return
    for name in ("mapay.sqlite3", "mapay.sqlite3-wal", "mapay.sqlite3-shm", "secret.key"):
        path = folder / name
        try:
            with path.open("rb" if name == "secret.key" else "r+b"):
                pass
        except FileNotFoundError:
            continue
        except PermissionError:
            what = "无法读取密钥文件" if name == "secret.key" else "无法写入数据库文件"
            raise CliProblem(f"{what} {path}：{_fix(path, folder=False)}") from None
        except OSError:
            continue


def _fix(path: Path, *, folder: bool) -> str:
    """Who owns ``path`` and the command that gives it to the user mapay runs as."""
    uid = os.geteuid()
    try:
        st = path.stat()
        now = f"属主 uid {st.st_uid}，权限 {stat.S_IMODE(st.st_mode):o}，mapay 以 uid {uid} 运行"
    except OSError:
        now = f"mapay 以 uid {uid} 运行"
    if folder:
        return f"{now}。请执行 chown -R {uid} {path} && chmod u+rwx {path}，或用 MAPAY_DATA_DIR 指向可写的目录"
    return f"{now}。请执行 chown {uid} {path} && chmod u+rw {path}"


def problem_of(exc: BaseException, settings: Settings) -> CliProblem | None:
    """The person's problem behind an exception, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, CliProblem):
        return exc
    if isinstance(exc, SecretKeyError):
        return CliProblem(str(exc))
    if isinstance(exc, PermissionError):
        path = Path(exc.filename) if exc.filename else Path(os.path.abspath(settings.data_dir))
        return CliProblem(f"权限不足，无法访问 {path}：{_fix(path, folder=path.is_dir())}")
    if isinstance(exc, sqlite3.OperationalError) and any(
        words in str(exc) for words in ("unable to open database file", "readonly database")
    ):
        folder = Path(os.path.abspath(settings.data_dir))
        return CliProblem(f"无法打开数据库 {folder / 'mapay.sqlite3'}（{exc}）：{_fix(folder, folder=True)}")
    return None
