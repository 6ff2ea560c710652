"""The hpc-e2e pytest plugin (entry point ``pytest11: hpc_e2e = harness.plugin``).

Like pytest's own plugins, one module per concern, each registered as a plugin here:

* :mod:`.options` — the ``hpc-e2e`` option group, validated into ``Settings``;
* :mod:`.targets` — the run (id, folders, bundle) and its hosts: inventory or simulated
  hosts started by the controller and handed to xdist workers;
* :mod:`.markers` — ``isolation``, ``min_build``, ``requires`` and the skips they cause;
* :mod:`.fixtures` — ``hpc_host``, ``pods``, ``expect``, ``isolation`` (built on
  :mod:`.leasing`, :mod:`.provisioning`, :mod:`.host`, :mod:`.pods`, :mod:`.profiles`);
* :mod:`.shared` — ``shared_hpc``: one standard HPC per worker and isolation for checks
  that only read;
* :mod:`.sidehosts` — ``uvm_without_hpc_pods``: pods on a host whose UVMs lack HostProcess
  support (the simulated side host by default);
* :mod:`.leftovers` — pods earlier runs left on a host, reported (never removed);
* :mod:`.limits` — the per-test limit (pytest-timeout's timer, taken over) and
  provisioning's own deadline outside it, each naming its cause;
* :mod:`.signals` — SIGTERM interrupts like Ctrl-C, so teardown and the sweep still run;
* :mod:`.interrupts` — the test a Ctrl-C or SIGTERM cut short is reported interrupted;
* :mod:`.reporting`, :mod:`.diagnostics` — Allure labels, steps, diagnostics on failure.

Scenarios import names from :mod:`harness.plugin.api` only.

Every module's docstring carries PYTEST_DONT_REWRITE: ``hpc-e2e run`` imports plugin modules
to check its options before pytest starts, and pytest would warn that it can no longer
rewrite their asserts (they hold none that need it).
"""

from __future__ import annotations

pytest_plugins = ["harness.plugin.options", "harness.plugin.limits", "harness.plugin.targets",
         "harness.plugin.markers",
         "harness.plugin.signals", "harness.plugin.interrupts",
         "harness.plugin.leftovers",  # before fixtures imports it
         "harness.plugin.fixtures", "harness.plugin.shared", "harness.plugin.sidehosts",
         # diagnostics before reporting: reporting imports it, and a plugin imported before
         # pytest registers it is not rewritten.
         "harness.plugin.diagnostics", "harness.plugin.reporting"]
