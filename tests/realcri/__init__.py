"""The real-CRI lane (``pytest -m real_cri``): the harness's CRI client against real crictl
and real containerd, set up by ``ci/real-cri/setup``."""
