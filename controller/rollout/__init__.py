"""Releases of online and batch endpoints: blue/green, and progressive rollouts gated on health.

    render (manifest names) -> overlay(graph, records from the stack's state, clock, health)
                            -> graph in Azure's names, with each endpoint's release where it stands

A stage of its own between render and the engine (apply, preview, drift, `amlctl rollout`), and
a section of `plan`:

    policy   the manifest's `rollout:` (steps, pauses, gates) as data
    record   what the stack's state keeps per endpoint: names, digests, the release in progress
    health   a deployment's metrics over a window, and the gates' verdict
    decide   one endpoint's next step: a pure function of the above and the clock
    overlay  the graph the engine is given
    store    reading the records out of a checkpoint or the engine's export
    sources  the simulation's metrics, or Azure Monitor's (azure_health)
"""
from controller.rollout.overlay import Report, Rolled  # noqa: F401
