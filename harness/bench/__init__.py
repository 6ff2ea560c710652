"""``hpc-e2e bench``: how fast the harness is, as ratios against baselines from the same run.

A layer beside ``harness/commands`` (it drives the transports, the CLI and the sim the way a
user would, and nothing below imports it).  One module per measurement:

* :mod:`.throughput` — short WinRM commands per second and HTTP requests per command: the
  harness transport against pywinrm's ``Session.run_cmd`` and a shell-per-command loop;
* :mod:`.upload` — file upload throughput and the uploading process's peak memory, against
  streaming the same bytes with bare WinRS Send requests (:mod:`.upload_child` runs one
  transfer in a fresh process so its peak memory is its own);
* :mod:`.makespan` — the scenario suite under the sim's latency model over a grid of
  workers and hosts, against the ideal schedule (:mod:`.suite` runs the suite, :mod:`.timing`
  is the pytest plugin that records when each test ran);
* :mod:`.overhead` — the harness's own cost per scenario with no latency at all;
* :mod:`.table`, :mod:`.plot`, :mod:`.figures` — the printed tables, the PNG and the JSON.

Performance claims are ratios between figures measured in one run, never absolute timings
asserted in tests: the machine under the benchmark is shared and its speed varies.
"""
