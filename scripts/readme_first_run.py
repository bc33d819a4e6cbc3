"""The first-run block: a fresh clone and an empty cache, setup, then the app's first /generate
(scripts/first_run.py)."""

from __future__ import annotations

from readme_format import provenance


def first_run(arts: dict) -> str:
    a = arts["first_run.json"]
    setup, app = a["setup"], a["app"]
    first = app["first_generate"]
    waits = len(first["answered_still_preparing"])
    told = f", after {waits} answers that the model was still being prepared" if waits else ""
    memory = ", ".join(
        f"{what} {mb:,.0f} MB"
        for what, mb in (
            ("prepare (the model's first load)", setup.get("prepare_peak_rss_mb")),
            ("the app", app["peak_rss_mb"]),
            (
                "the largest process setup started (the compiler's, if larger)",
                setup.get("largest_process_peak_rss_mb"),
            ),
        )
        if mb is not None
    )
    return (
        f"{provenance(a, 'first_run.json')}: `bash scripts/setup.sh` on an empty cache took "
        f"{setup['seconds']:.0f} s (the packages were installed: this is the model's "
        f"preparation). Then `python app.py`: the server answered {app['server_answers_s']:.1f} s "
        f"after the start, and the first `/generate` ({first['new_tokens']} tokens) had answered "
        f"{first['seconds_from_app_start']:.1f} s after the start{told}. Peak resident memory: "
        f"{memory or 'not recorded'}."
    )
