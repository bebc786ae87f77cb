"""API discovery documents: the version list, the v2.0 resource list and the extension aliases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from steerflow.api.resource import ResourceHandler
from steerflow.nbdb.api import JsonDict

API_VERSION = "v2.0"


@dataclass(frozen=True)
class Extension:
    """One Neutron API extension we implement; clients probe `alias` before using a feature."""

    alias: str
    name: str
    description: str
    updated: str

    def body(self) -> JsonDict:
        return {
            "name": self.name,
            "alias": self.alias,
            "description": self.description,
            "updated": self.updated,
            "links": [],
        }


# Only what steerflow really implements: a client that sees an alias relies on its attributes.
EXTENSIONS: tuple[Extension, ...] = (
    Extension(
        "binding", "Port Binding", "Expose port bindings of a virtual port", "2014-02-03T10:00:00-00:00"
    ),
    # not the NB schema: an extension alias
    Extension(
        "flow_classifier", "Flow Classifier", "Flow Classifier Extension.", "2015-10-05T10:00:00-00:00"
    ),
    Extension(
        "net-mtu",
        "Network MTU",
        "Provides MTU attribute for a network resource.",
        "2015-03-25T10:00:00-00:00",
    ),
    Extension(
        "networking-sfc-tap",
        "Networking SFC Passive Tap Service Function support",
        "Extension for Passive TAP Service Function support",
        "2017-10-20T10:00:00-00:00",
    ),
    Extension(
        "neutron_classifier",
        "Neutron Common Classification Framework",
        "Classifications and classification groups; flow classifiers reference a group "
        "(classification_group_id, steerflow's extension).",
        "2026-12-06T00:00:00-00:00",
    ),
    Extension("port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    Extension(
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
        "2016-09-09T09:09:09-09:09",
    ),
    # not the NB schema: an extension alias
    Extension("service_graph", "Service Graph", "Service Graph extension.", "2017-09-20T00:00:00-00:00"),
    Extension(
        "sfc", "Service Function Chaining", "Service Function Chain extension.", "2015-10-05T10:00:00-00:00"
    ),
    Extension(
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
        "2016-02-10T10:00:00-00:00",
    ),
)


def find_extension(alias: str) -> Extension | None:
    return next((e for e in EXTENSIONS if e.alias == alias), None)


def versions(base_url: str) -> JsonDict:
    """`GET /`: the one API version, linking to its root."""
    href = f"{base_url.rstrip('/')}/{API_VERSION}/"
    return {"versions": [{"id": API_VERSION, "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}


def resources(base_url: str, handlers: Sequence[ResourceHandler]) -> JsonDict:
    """`GET /v2.0/`: the core collections (Neutron lists only those, not extension collections, even
    those without a path prefix: a handler naming its `extension_alias` is one)."""
    root = f"{base_url.rstrip('/')}/{API_VERSION}"
    listed = [h for h in handlers if not h.path_prefix and not getattr(h, "extension_alias", None)]
    return {
        "resources": [
            {
                "name": h.resource,
                "collection": h.collection,
                "links": [{"rel": "self", "href": f"{root}/{h.collection}"}],
            }
            for h in listed
        ]
    }
