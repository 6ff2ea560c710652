"""The simulated Windows host: a test double of the *host*, never of the harness.

It listens on loopback and speaks real WS-Management (for pywinrm) and SSH (paramiko),
and runs the command lines it receives on one machine model (:mod:`harness.sim.machine`).
Anything it does not understand fails loudly.  Nothing outside ``harness/sim`` imports it,
except the code that starts it (the CLI and the tests).
"""
