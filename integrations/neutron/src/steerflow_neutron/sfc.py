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

Refusal = Callable[..., Exception]


def _checked(kind: str, refusal: Refusal) -> Callable[[Any, Any], None]:
    def precommit(self: Any, context: Any) -> None:
        reason = backend.check(kind, context.current)
        if reason is not None:
            raise refusal(message=f"steerflow cannot steer this {kind.replace('_', ' ')}: {reason}")

    return precommit


def _created(kind: str, failure: Refusal) -> Callable[[Any, Any], None]:
    """A create's postcommit: refused by steerflow, it raises, and networking-sfc deletes the object."""

    def postcommit(self: Any, context: Any) -> None:
        if backend.write(kind, context.current) is not None:
            raise failure(method=f"steerflow: writing {kind} {context.current['id']}")

    return postcommit


def _updated(kind: str) -> Callable[[Any, Any], None]:
    """An update's postcommit: committed in Neutron whatever happens here (a refusal is logged)."""

    def postcommit(self: Any, context: Any) -> None:
        backend.write(kind, context.current)

    return postcommit


def _removed(kind: str) -> Callable[[Any, Any], None]:
    def postcommit(self: Any, context: Any) -> None:
        backend.remove(kind, context.current["id"])

    return postcommit


def _pass_bad_requests(
    manager: Any, methods: tuple[str, ...], bad_request: type[Exception], error: Refusal
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


def _nothing(self: Any, context: Any) -> None:
    """The legacy hooks: networking-sfc calls them from the *_postcommit defaults we replace, and
    `delete_*` before its own delete, when nothing is committed yet."""


class SteerflowSfcDriver(sfc_driver.SfcDriverBase):  # type: ignore[misc]
    """`[sfc] drivers = steerflow`."""

    def initialize(self) -> None:
        backend.register_options()
        _pass_bad_requests(
            sfc_manager.SfcDriverManager,
            _precommits(schema.PORT_PAIR, schema.PORT_PAIR_GROUP, schema.PORT_CHAIN, schema.SERVICE_GRAPH),
            sfc_exc.SfcBadRequest,
            sfc_exc.SfcDriverError,
        )

    create_port_pair = update_port_pair = delete_port_pair = _nothing
    create_port_pair_group = update_port_pair_group = delete_port_pair_group = _nothing
    create_port_chain = update_port_chain = delete_port_chain = _nothing

    create_port_pair_precommit = update_port_pair_precommit = _checked(
        schema.PORT_PAIR, sfc_exc.SfcBadRequest
    )
    create_port_pair_group_precommit = update_port_pair_group_precommit = _checked(
        schema.PORT_PAIR_GROUP, sfc_exc.SfcBadRequest
    )
    create_port_chain_precommit = update_port_chain_precommit = _checked(
        schema.PORT_CHAIN, sfc_exc.SfcBadRequest
    )
    create_service_graph_precommit = update_service_graph_precommit = _checked(
        schema.SERVICE_GRAPH, sfc_exc.SfcBadRequest
    )

    create_port_pair_postcommit = _created(schema.PORT_PAIR, sfc_exc.SfcDriverError)
    update_port_pair_postcommit = _updated(schema.PORT_PAIR)
    create_port_pair_group_postcommit = _created(schema.PORT_PAIR_GROUP, sfc_exc.SfcDriverError)
    update_port_pair_group_postcommit = _updated(schema.PORT_PAIR_GROUP)
    create_port_chain_postcommit = _created(schema.PORT_CHAIN, sfc_exc.SfcDriverError)
    update_port_chain_postcommit = _updated(schema.PORT_CHAIN)
    create_service_graph_postcommit = _created(schema.SERVICE_GRAPH, sfc_exc.SfcDriverError)
    update_service_graph_postcommit = _updated(schema.SERVICE_GRAPH)

    delete_port_pair_postcommit = _removed(schema.PORT_PAIR)
    delete_port_pair_group_postcommit = _removed(schema.PORT_PAIR_GROUP)
    delete_port_chain_postcommit = _removed(schema.PORT_CHAIN)
    delete_service_graph_postcommit = _removed(schema.SERVICE_GRAPH)


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
    create_flow_classifier_precommit = update_flow_classifier_precommit = _checked(
        schema.FLOW_CLASSIFIER, fc_exc.FlowClassifierBadRequest
    )
    create_flow_classifier_postcommit = _created(schema.FLOW_CLASSIFIER, fc_exc.FlowClassifierDriverError)
    update_flow_classifier_postcommit = _updated(schema.FLOW_CLASSIFIER)
    delete_flow_classifier_postcommit = _removed(schema.FLOW_CLASSIFIER)
