"""The one check of a request's resource types (used by the core's Site, the REST API and the XML-RPC API)."""
import pytest

from galerna.model.site import Site, UnknownResource, check_resources


def test_known_resources_pass():
    check_resources([{"cpu": 1, "memory": 64}, {"gpu": 1}], ("cpu", "memory", "gpu"))


def test_the_first_unknown_resource_is_named_with_its_vm_and_the_known_ones():
    with pytest.raises(UnknownResource) as e:
        check_resources([{"cpu": 1}, {"cpu": 1, "fpga": 1, "gpu": 2}], ("cpu", "memory"))
    assert (e.value.node, e.value.resource, e.value.known) == (1, "fpga", ("cpu", "memory"))
    assert str(e.value) == "resource fpga is not provided by any host (known: cpu, memory)"


def test_the_site_refuses_an_unknown_resource_with_the_same_error():
    site = Site.uniform(2, cpu=4, memory=1024, gpu=1)
    assert site.vector({"cpu": 1, "gpu": 1}) == (1.0, 0.0, 1.0)
    with pytest.raises(UnknownResource, match="resource fpga is not provided by any host"):
        site.vector({"cpu": 1, "fpga": 1})
    assert issubclass(UnknownResource, ValueError)  # the daemon answers ValueErrors of a request with 422
