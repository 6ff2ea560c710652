"""The simulated Windows host: a test double of the *host*, never of the harness.

It listens on loopback and speaks real WS-Management (for pywinrm) and SSH (paramiko),
and runs the command lines it receives on one machine model (:mod:`harness.sim.machine`).
Anything it does not understand fails loudly.  Nothing outside ``harness/sim`` imports it,
except the code that starts it (the CLI and the tests).

It imports nothing of the harness, so that each can check the other (it quotes, parses and
holds passwords with its own code: :mod:`.winparse`, :mod:`.password`), and its modules form
no import cycle: the machine is handed its programs (:func:`.programs.standard_machine`) and
the CRI model its guest (:mod:`.cri.launch`) by whoever builds them.  Both rules are checked:
the import-linter contract in ``pyproject.toml`` and ``tests/test_sim_structure.py``.
"""
