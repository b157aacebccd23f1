"""The checks the Python worker applies when it loads the functions, applied here to every
indexed function, so a change that would fail to load fails in CI and not after deploy.

The worker (azure-functions-python-worker) rejects a function when a parameter's annotation
does not match its binding type (a queue output annotated ``func.Out[dict]``, say), and
when a function without a ``$return`` binding is declared to return a value. It asks the
binding's converter in azure-functions, as ``worker_load_errors`` does.
"""

from __future__ import annotations

import json
import typing

import azure.functions as func
import pytest
from azure.functions.meta import get_binding_registry

from devtools.queue_pump import indexed_functions
from tests.helpers import functions_by_name


def worker_load_errors(fn) -> list[str]:
    user_function = fn.get_user_function()
    hints = typing.get_type_hints(user_function)
    bindings = json.loads(fn.get_function_json())["bindings"]
    errors = []
    for binding in bindings:
        name, converter = binding["name"], get_binding_registry().get(binding["type"])
        if converter is None:
            errors.append(f"{name}: no converter for binding type {binding['type']}")
            continue
        if name == "$return":
            if not converter.check_output_type_annotation(hints.get("return")):
                errors.append(f"return annotation {hints.get('return')} does not fit {binding['type']}")
            continue
        annotation = hints.get(name)
        if binding["direction"].lower() == "out":
            if typing.get_origin(annotation) is not func.Out:
                errors.append(f"{name}: an output binding must be annotated func.Out[...]")
            elif not converter.check_output_type_annotation(typing.get_args(annotation)[0]):
                errors.append(f"{name}: {typing.get_args(annotation)[0]} does not fit a {binding['type']} output")
        elif annotation is not None and not converter.check_input_type_annotation(annotation):
            errors.append(f"{name}: {annotation} does not fit a {binding['type']} input")
    if not any(b["name"] == "$return" for b in bindings) and hints.get("return", type(None)) is not type(None):
        errors.append("a function without a $return binding must return None")
    return errors


@pytest.mark.parametrize("name", sorted(functions_by_name()))
def test_every_function_passes_the_workers_load_checks(name: str) -> None:
    assert worker_load_errors(functions_by_name()[name]) == []


def test_the_checks_catch_what_the_worker_rejects() -> None:
    app = func.FunctionApp()

    @app.function_name("wrong_output_type")
    @app.queue_trigger(arg_name="msg", queue_name="q", connection="C")
    @app.queue_output(arg_name="out", queue_name="r", connection="C")
    def wrong_output_type(msg: func.QueueMessage, out: func.Out[dict]) -> None:
        pass

    @app.function_name("returns_without_return_binding")
    @app.queue_trigger(arg_name="msg", queue_name="q", connection="C")
    def returns_without_return_binding(msg: func.QueueMessage) -> str:
        return "x"

    functions = indexed_functions(app)
    assert worker_load_errors(functions["wrong_output_type"]) == ["out: <class 'dict'> does not fit a queue output"]
    assert worker_load_errors(functions["returns_without_return_binding"]) == [
        "a function without a $return binding must return None"
    ]
