"""The simulated host's containerd CRI layer and hcsshim's runhcs shim.

:mod:`.config` reads containerd's ``config.toml``; :mod:`.images` is the image store;
:mod:`.shim` holds the shim's rules as pure functions; :mod:`.runtime` is the CRI service
(:class:`~.runtime.CriRuntime`) that the ``containerd.exe`` program puts on
``machine.cri``; :mod:`.flavors` lets the same machine behave like other runtime builds;
:mod:`.model` holds the dataclasses the guest model runs; :mod:`.launch` is the interface
through which the runtime hands a process to the guest (which this package never imports).
Everything follows docs/behaviour/runtime.md, cited by section.
"""
