"""The ML2 mechanism driver: networks, subnets and ports mirrored into steerflow's NB; ports bound to
hosts that run a steerflow agent.

Mirrored: what steerflow's API keeps of each (names, project, MTU, port security, CIDRs, gateways and
pools, MACs, fixed IPs, device id and owner, binding host, admin state). Not mirrored: security groups
and their rules, allowed address pairs, extra DHCP options, QoS, trunks, routers and floating IPs.
"""

from __future__ import annotations

from typing import Any, Final

from neutron_lib import context as n_context
from neutron_lib import exceptions
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins import directory
from neutron_lib.plugins.ml2 import api
from oslo_log import log

from steerflow.model import schema
from steerflow.nbdb.api import StoreError
from steerflow_neutron import backend
from steerflow_neutron.mirror import Mirror
from steerflow_neutron.status import NotReady, StatusReporter

LOG = log.getLogger(__name__)
# Neutron's segment is only a placeholder to bind to: steerflow gives every network its own Geneve VNI
# and tunnels between chassis itself. Segments on a physical network (flat, vlan) it cannot serve.
OVERLAY_TYPES: Final = frozenset({"geneve", "vxlan", "local"})
INTEGRATION_BRIDGE: Final = "br-int"
VIF_DETAILS: Final = {
    portbindings.CAP_PORT_FILTER: False,  # no security groups: steerflow does port security only
    portbindings.OVS_HYBRID_PLUG: False,  # the tap goes straight into br-int, iface-id = the port id
    portbindings.VIF_DETAILS_BRIDGE_NAME: INTEGRATION_BRIDGE,
    portbindings.VIF_DETAILS_CONNECTIVITY: portbindings.CONNECTIVITY_L2,
}


def _invalid(message: str) -> Exception:
    """Neutron's own 400."""
    return exceptions.InvalidInput(error_message=message)  # type: ignore[no-any-return]


@backend.mirroring((schema.NETWORK, schema.SUBNET, schema.PORT), _invalid, _invalid)
class SteerflowMechanismDriver(api.MechanismDriver):  # type: ignore[misc]
    """ML2 `mechanism_drivers = steerflow`: precommits refuse what steerflow cannot carry (inside
    Neutron's transaction), postcommits write the NB (`backend.mirroring`)."""

    def initialize(self) -> None:
        backend.register_options()
        backend.in_every_process(_start_reporter)
        try:
            backend.mirror()  # this process's reporter starts now, not at the first request
        except StoreError as exc:  # neutron-server starts anyway; the first request tries again
            LOG.warning("steerflow: cannot open the NB store yet (%s)", exc)

    @property
    def connectivity(self) -> str:
        return str(portbindings.CONNECTIVITY_L2)

    # --- binding ------------------------------------------------------------------------------------

    def bind_port(self, context: Any) -> None:
        """Bind a normal port on a host whose steerflow agent registered a chassis; vif type ovs.

        Nova (os-vif) then plugs the VM's tap into br-int with `external_ids:iface-id` = the port id,
        which is what the agent binds by. The port stays DOWN until that agent has bound it: its NB
        status comes back through `StatusReporter` (and Nova gets `network-vif-plugged` then).
        """
        port = context.current
        if port.get(portbindings.VNIC_TYPE, portbindings.VNIC_NORMAL) != portbindings.VNIC_NORMAL:
            return
        if not backend.runs_agent(context.host):
            LOG.debug("steerflow: no chassis %s in the NB, not binding port %s", context.host, port["id"])
            return
        for segment in context.segments_to_bind:
            if segment[api.NETWORK_TYPE] in OVERLAY_TYPES:
                context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS, dict(VIF_DETAILS))
                return
        LOG.info("steerflow: port %s has no overlay segment to bind on %s", port["id"], context.host)


def _start_reporter(mirror: Mirror) -> None:
    StatusReporter(mirror.store, _report_status).start()


def _report_status(port_id: str, status: str) -> None:
    """The NB's status of a port (set by the agent that binds it) into Neutron's, if it differs."""
    plugin = directory.get_plugin()
    if plugin is None:
        raise NotReady()
    plugin.update_port_status(n_context.get_admin_context(), port_id, status)
