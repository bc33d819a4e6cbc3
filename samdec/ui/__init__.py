"""The web app: the only code that imports gradio.

One module per section, each building its part of the page and holding its handlers: `live`
(Generate, the streamed output), `replay` (step slider, play, inspector, charts, trace files),
`automaton_view`, `playground` (the automaton's construction, step by step), `compare`, `tune`,
`api` (named endpoints). `page.build_demo` assembles them. Below the sections, without gradio:
`request` (one checked request, settings by name), `runtime` (the operator's models, loaded once
per process), `admission` (how much model work runs and waits), `device` (everything that runs
the model, ZeroGPU-ready), `panels` (sessions, and every step panel rendered by name).

This file imports nothing, so that importing one module of the package does not import them all
(and the sections, which import one another, never import back through the package): import
what you need from the module that defines it, e.g. `samdec.ui.page.build_demo`,
`samdec.ui.runtime.configure`.
"""
