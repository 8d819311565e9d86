"""The double's own parsers: oned's template syntax and the SCHED_REQUIREMENTS subset."""
from __future__ import annotations

import pytest

from .oned_double.model import Host
from .oned_double.requirements import RequirementsError, evaluate
from .oned_double.templates import TemplateSyntaxError, parse_template


def test_template_syntax_scalars_vectors_repeats_and_case():
    template = parse_template('cpu = 0.5\n# a comment\nMEMORY=512\nname = "a \\"quoted\\" name"\n'
                              'DISK = [ IMAGE_ID = "1", size = 10 ]\nDISK = [ IMAGE_ID = "2" ]\n'
                              'HAIZEA = [\n  START = "+00:00:30",\n  DURATION = "00:01:00"\n]\n')
    assert template.get("CPU") == "0.5" and template.get("memory") == "512"
    assert template.get("NAME") == 'a "quoted" name'
    assert template.get_all("DISK") == [{"IMAGE_ID": "1", "SIZE": "10"}, {"IMAGE_ID": "2"}]
    assert template.get("HAIZEA") == {"START": "+00:00:30", "DURATION": "00:01:00"}


def test_template_xml_form_and_merge():
    base = parse_template('A = "1"\nV = [ X = "1", Y = "2" ]')
    base.merge(parse_template("<TEMPLATE><V><X>9</X></V><B>2</B></TEMPLATE>"))
    assert base.get("A") == "1" and base.get("B") == "2" and base.get("V") == {"X": "9"}


@pytest.mark.parametrize("text", ['A = [ B = "x"', 'A = "unterminated', '= "x"', 'A "x"'])
def test_template_syntax_errors_say_where(text):
    with pytest.raises(TemplateSyntaxError, match=r"Parse error: .* at line \d+"):
        parse_template(text)


def test_requirements_subset():
    host = Host(3, "node3", 400, 8 * 1024 * 1024)
    host.template.set("HYPERVISOR", "kvm")
    assert evaluate("", host)
    assert evaluate("ID = 3", host) and not evaluate("ID != 3", host)
    assert evaluate('NAME = "node*"', host) and not evaluate('NAME = "other*"', host)
    assert evaluate("!(PUBLIC_CLOUD = YES) & !(PIN_POLICY = PINNED)", host)
    assert evaluate("ID = 1 | ID = 3", host) and not evaluate("ID = 1 | (ID = 3 & HYPERVISOR = xen)", host)
    assert evaluate("ID > 2 & ID < 4", host)
    with pytest.raises(RequirementsError):
        evaluate("ID = ", host)
    with pytest.raises(RequirementsError):
        evaluate("(ID = 3", host)
