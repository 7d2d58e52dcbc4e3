"""Sphinx glue that keeps the rendered book self-contained and free of JS errors.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``.

* sphinx-thebe 0.3.1 injects an inline ``const THEBE_JS_URL = ...`` script
  that Sphinx 7.4 emits twice per page ("Identifier 'THEBE_JS_URL' has already
  been declared"), and its JS would fetch thebe from unpkg. Thebe needs Binder
  and a network, so when ``launch_buttons.thebe`` is off we unhook it.
* ipywidgets' html-manager typesets widget labels with the MathJax 2 API
  (``MathJax.Hub.Queue``); Sphinx loads MathJax 3, so every widget on a page
  with maths threw. ``widgets-mathjax3.js`` maps that call onto MathJax 3.
"""
from __future__ import annotations


def _unhook_thebe(app) -> None:
    launch = (app.config.html_theme_options or {}).get("launch_buttons") or {}
    if launch.get("thebe"):
        return
    for event in ("env-before-read-docs",):
        for listener in list(app.events.listeners.get(event, [])):
            handler = listener.handler
            if getattr(handler, "__module__", "") == "sphinx_thebe" and \
                    handler.__name__ == "init_thebe_core":
                app.disconnect(listener.id)


def setup(app):
    app.connect("builder-inited", _unhook_thebe)
    app.add_js_file("widgets-mathjax3.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
