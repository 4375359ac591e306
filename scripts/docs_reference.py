"""The docs site's generated pages: the configuration reference from the pydantic models (every
key, its type, default and meaning: the comment on the field's line, or the model's docstring)
and the CLI reference from the parser. `make docs` writes them; a test keeps them in step.

    python scripts/docs_reference.py docs/reference
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from hindcast_assets.cli import parser
from hindcast_assets.config import ExperimentConfig

FIELD_LINE = re.compile(r"^\s+(\w+):[^#]*#\s*(.+)$")


COMMENT_LINE = re.compile(r"^\s+#\s?(.*)$")
FIELD_NAME = re.compile(r"^\s+(\w+):")


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comment on its line in the model's source, or the comment lines just above it."""
    out, above = {}, []
    for line in inspect.getsource(model).splitlines():
        if (m := COMMENT_LINE.match(line)):
            above.append(m[1].strip())
        elif (m := FIELD_LINE.match(line)):
            out[m[1]], above = m[2].strip(), []
        elif (m := FIELD_NAME.match(line)):
            if above:
                out[m[1]] = " ".join(above)
            above = []
        else:
            above = []
    return out


def _type(annotation) -> str:
    text = re.sub(r"typing\.|<class '(\w+)'>", lambda m: m[1] or "", str(annotation))
    return re.sub(r"hindcast_assets\.[\w.]+\.", "", text).replace("NoneType", "None")


def _submodel(annotation) -> type[BaseModel] | None:
    return annotation if inspect.isclass(annotation) and issubclass(annotation, BaseModel) else None


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    value = field.default if field.default is not PydanticUndefined else field.default_factory()
    return "(section)" if isinstance(value, BaseModel) else f"`{value!r}`"


def _rows(model: type[BaseModel], prefix: str, sections: list) -> list[str]:
    rows, comments = [], _comments(model)
    for name, field in model.model_fields.items():
        key, sub = f"{prefix}{name}", _submodel(field.annotation)
        if sub is not None:
            sections.append((key, sub))
            rows.append(f"| `{key}` | section | {_default(field)} | see [`{key}`](#{key.replace('.', '')}) |")
            continue
        args = [a for a in typing.get_args(field.annotation) if _submodel(a)]
        meaning = comments.get(name, "")
        if args and "dict" in str(field.annotation):
            sections.append((f"{key}.<name>", args[0]))
        rows.append(f"| `{key}` | `{_type(field.annotation)}` | {_default(field)} | {meaning} |")
    return rows


def config_reference() -> str:
    out = ["# Configuration reference", "",
           "Generated from the config's pydantic models (`hindcast_assets/config.py`) by "
           "`scripts/docs_reference.py`; a test keeps this page in step. A config is strict: an unknown key is "
           "an error naming it. `${VAR}` in a value is read from the environment.", ""]
    sections = [("(top level)", ExperimentConfig)]
    while sections:
        title, model = sections.pop(0)
        prefix = "" if title == "(top level)" else f"{title}."
        out += [f"## `{title}`" if title != "(top level)" else "## Top level", ""]
        if model.__doc__ and model.__doc__ != BaseModel.__doc__:
            out += [inspect.cleandoc(model.__doc__), ""]
        out += ["| key | type | default | meaning |", "|---|---|---|---|", *_rows(model, prefix, sections), ""]
    return "\n".join(out)


def _commands(p: argparse.ArgumentParser, path: str) -> list[str]:
    out = [f"## `{path}`", "", f"```text\n{p.format_help().rstrip()}\n```", ""]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, f"{path} {name}")
    return out


def cli_reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: the page must not depend on it
    return "\n".join(["# CLI reference", "", "Generated from the `hindcast` command's parser by "
                      "`scripts/docs_reference.py`; a test keeps this page in step.", "",
                      *_commands(parser(), "hindcast")])


PAGES = {"config.md": config_reference, "cli.md": cli_reference}


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/reference")
    folder.mkdir(parents=True, exist_ok=True)
    for name, render in PAGES.items():
        (folder / name).write_text(render())
