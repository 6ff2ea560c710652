"""The pod network a non-HostProcess pod needs: the nat CNI plugin's config for containerd.

A HostProcess pod uses the host's network and runs no CNI plugin, but the suite also starts
ordinary pods (a HostProcess annotation that does not make an HPC, for one), and containerd
refuses those until a CNI network config is loaded ("cni plugin not initialized";
docs/behaviour/ecosystem.md §2.5).  On Windows the usual network is the ``nat`` plugin of
microsoft/windows-container-networking over the HNS network named ``nat`` that the Containers
feature creates: containerd's ``script/setup/install-cni-windows`` and nerdctl's
``hack/configure-windows-ci.ps1`` both read that network's subnet and gateway
(``Get-HnsNetwork``) and write ``0-containerd-nat.conf`` into containerd's CNI conf dir.
Deploy does the same when the bundle ships the ``nat`` plugin; containerd's CRI plugin picks
the file up without a restart (it watches the conf dir).
"""

from __future__ import annotations

import ipaddress
import json

NAT_PLUGIN = "nat"
CONF_NAME = "0-containerd-nat.conf"
CNI_VERSION = "0.2.0"  # what the nat plugin's releases accept (windows-container-networking)


def nat_config(subnet: str, gateway: str, *, master: str = "Ethernet") -> str:
    """The nat plugin's network config for the HNS network ``subnet`` with ``gateway``.

    Both come from the host (``Get-HnsNetwork``), so they are checked here: a config with a
    malformed subnet would load and then fail every non-HostProcess pod at RunPodSandbox.
    """
    network = ipaddress.ip_network(subnet, strict=False)
    gw = ipaddress.ip_address(gateway)
    if gw not in network:
        raise ValueError(f"the gateway {gateway} is not in the subnet {subnet}")
    return json.dumps({
        "cniVersion": CNI_VERSION,
        "name": NAT_PLUGIN,
        "type": NAT_PLUGIN,
        "master": master,
        "ipam": {"subnet": str(network), "routes": [{"gateway": str(gw)}]},
        "capabilities": {"portMappings": True, "dns": True},
    }, indent=2) + "\n"


__all__ = ["CONF_NAME", "NAT_PLUGIN", "nat_config"]
