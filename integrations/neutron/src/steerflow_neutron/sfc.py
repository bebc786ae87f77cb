"""networking-sfc drivers: port pairs, groups, chains, service graphs and flow classifiers written to
steerflow's NB with Neutron's ids (`[sfc] drivers = steerflow`, `[flowclassifier] drivers = steerflow`).

Precommit runs steerflow's own validation on the NB without writing and refuses, with networking-sfc's
`SfcBadRequest` / `FlowClassifierBadRequest` (400), what steerflow would not store (networking-sfc's
driver managers are told to let those 400s through, see `_pass_bad_requests`). Postcommit writes
through steerflow's API handlers, so chain labels are allocated as steerflow's API allocates them and the
chain keeps Neutron's `chain_id`; a write steerflow refuses there raises the driver error, upon which
networking-sfc deletes the object it just created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from networking_sfc.services.flowclassifier import driver_manager as fc_manager
from networking_sfc.services.flowclassifier.common import exceptions as fc_exc
from networking_sfc.services.flowclassifier.drivers import base as fc_driver
from networking_sfc.services.sfc import driver_manager as sfc_manager
from networking_sfc.services.sfc.common import exceptions as sfc_exc
from networking_sfc.services.sfc.drivers import base as sfc_driver

from steerflow.model import schema
from steerflow_neutron import backend


def _pass_bad_requests(
    manager: Any, methods: tuple[str, ...], bad_request: type[Exception], error: Callable[..., Exception]
) -> None:
    """Let a driver's 400 through `manager`'s precommits, as networking-sfc already does for chain and
    classifier creation; it turns every other precommit failure (pairs, groups, graphs, updates) into a
    500 driver error. Any other exception still becomes that driver error."""

    def wrapped(name: str) -> Callable[[Any, Any], None]:
        def precommit(self: Any, context: Any) -> None:
            try:
                self._call_drivers(name, context, raise_orig_exc=True)
            except bad_request:
                raise
            except Exception as exc:
                raise error(method=name) from exc

        return precommit

    for name in methods:
        setattr(manager, name, wrapped(name))


def _precommits(*resources: str) -> tuple[str, ...]:
    return tuple(f"{verb}_{r}_precommit" for r in resources for verb in ("create", "update"))


def _sfc_bad_request(message: str) -> Exception:
    return sfc_exc.SfcBadRequest(message=message)  # type: ignore[no-any-return]


def _sfc_failed(message: str) -> Exception:
    return sfc_exc.SfcDriverError(method=message)  # type: ignore[no-any-return]


def _fc_bad_request(message: str) -> Exception:
    return fc_exc.FlowClassifierBadRequest(message=message)  # type: ignore[no-any-return]


def _fc_failed(message: str) -> Exception:
    return fc_exc.FlowClassifierDriverError(method=message)  # type: ignore[no-any-return]


def _nothing(self: Any, context: Any) -> None:
    """The legacy hooks: networking-sfc calls them from the *_postcommit defaults we replace, and
    `delete_*` before its own delete, when nothing is committed yet."""


SFC_KINDS = (schema.PORT_PAIR, schema.PORT_PAIR_GROUP, schema.PORT_CHAIN, schema.SERVICE_GRAPH)


@backend.mirroring(SFC_KINDS, _sfc_bad_request, _sfc_failed)
class SteerflowSfcDriver(sfc_driver.SfcDriverBase):  # type: ignore[misc]
    """`[sfc] drivers = steerflow`."""

    def initialize(self) -> None:
        backend.register_options()
        _pass_bad_requests(
            sfc_manager.SfcDriverManager,
            _precommits(*SFC_KINDS),
            sfc_exc.SfcBadRequest,
            sfc_exc.SfcDriverError,
        )

    create_port_pair = update_port_pair = delete_port_pair = _nothing
    create_port_pair_group = update_port_pair_group = delete_port_pair_group = _nothing
    create_port_chain = update_port_chain = delete_port_chain = _nothing


@backend.mirroring((schema.FLOW_CLASSIFIER,), _fc_bad_request, _fc_failed)
class SteerflowFlowClassifierDriver(fc_driver.FlowClassifierDriverBase):  # type: ignore[misc]
    """`[flowclassifier] drivers = steerflow`."""

    def initialize(self) -> None:
        backend.register_options()
        _pass_bad_requests(
            fc_manager.FlowClassifierDriverManager,
            _precommits(schema.FLOW_CLASSIFIER),
            fc_exc.FlowClassifierBadRequest,
            fc_exc.FlowClassifierDriverError,
        )

    create_flow_classifier = update_flow_classifier = delete_flow_classifier = _nothing
