"""Small helpers every section shares: name -> component mapping, and error reporting."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gradio as gr

from .errors import UserError
from .panels import notice_html

log = logging.getLogger("samdec.app")


def by_component(components: Mapping[str, Any], update: Mapping[str, Any]) -> dict:
    """A handler's result keyed by panel name -> keyed by the components that show them."""
    return {components[name]: value for name, value in update.items() if name in components}


def error_notice(exc: Exception, what: str) -> str:
    """The notice for a failed action: a UserError as it is, anything else logged and named
    (never a traceback in the page). Also shown as a toast."""
    if isinstance(exc, UserError):
        message = str(exc)
    else:  # its text may name the server's files: the log keeps it, the page does not
        log.error("%s failed", what, exc_info=exc)
        message = f"{what} failed (the server's log has the details)."
    gr.Warning(message)
    return notice_html([message], "error")


def api_error(exc: Exception, what: str) -> gr.Error:
    """The error an API caller gets: the message only, no traceback."""
    if isinstance(exc, UserError):
        return gr.Error(str(exc), print_exception=False)
    log.error("%s failed", what, exc_info=exc)
    return gr.Error(f"{what} failed (the server's log has the details).", print_exception=False)


@contextmanager
def accordion_row(title: str, elem_id: str, open: bool = True) -> Iterator[None]:
    """A collapsible section whose contents sit side by side (compare, tune)."""
    with gr.Accordion(title, open=open, elem_id=elem_id), gr.Row(equal_height=False):
        yield
