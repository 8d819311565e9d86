"""Validate the double's documents against OpenNebula's XSDs (../shared/data/opennebula-xsd/), with lxml.

The schemas have `targetNamespace="http://opennebula.org/XMLSchema"` but oned writes no namespace, so each
element is moved into that namespace before validating (as the schemas' README says).
"""
from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "opennebula-xsd"
NAMESPACE = "http://opennebula.org/XMLSchema"

# The root element of each document -> the schema that describes it.
SCHEMA_OF_ROOT = {
    "VM": "vm.xsd",
    "HOST": "host.xsd",
    "HOST_POOL": "host_pool.xsd",
    "DATASTORE": "datastore.xsd",
    "DATASTORE_POOL": "datastore_pool.xsd",
    "CLUSTER_POOL": "cluster_pool.xsd",
    "VMTEMPLATE": "vmtemplate.xsd",
    "SCHEDULER_DRIVER_ACTION": "scheduler_driver_action.xsd",
    "PLAN": "plan.xsd",
}


class SchemaError(AssertionError):
    """A document that does not validate; the message names the schema and lxml's first errors."""


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    path = XSD_DIR / name
    if not path.is_file():
        raise SchemaError(f"OpenNebula's schema {name} not found at {path} (expected ../shared/data/opennebula-xsd)")
    return etree.XMLSchema(etree.parse(str(path)))


def namespaced(document: str | bytes) -> etree._Element:
    """Parse a namespace-less oned document and put every element into OpenNebula's schema namespace."""
    root = etree.fromstring(document.encode() if isinstance(document, str) else document)
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{NAMESPACE}}}{element.tag}"
    return root


def validate(document: str | bytes, schema_name: str | None = None) -> None:
    """Raise SchemaError unless the document validates (schema chosen by its root unless named).

    A VM_POOL is short (vm_pool.xsd) or extended (vm_pool_extended.xsd): name the schema for those.
    """
    root = namespaced(document)
    tag = etree.QName(root).localname
    if schema_name is None:
        if tag not in SCHEMA_OF_ROOT:
            raise SchemaError(f"no schema known for root <{tag}>; name one")
        schema_name = SCHEMA_OF_ROOT[tag]
    checker = schema(schema_name)
    if not checker.validate(root):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in list(checker.error_log)[:5])
        raise SchemaError(f"<{tag}> does not validate against {schema_name}: {errors}")
