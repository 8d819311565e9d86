"""CPU models: per VM, per host and as a cluster default.

``host-passthrough`` and ``host-model`` take the host's CPU; a named model
(``Haswell-noTSX``, ``EPYC``...) gives the same CPU on every host, with
features the VM requires or forbids. The most specific setting wins:
VM, then host, then cluster; none at all leaves it to the hypervisor.
"""
from __future__ import annotations

from enum import StrEnum
from xml.etree import ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CPUMode(StrEnum):
    HOST_PASSTHROUGH = "host-passthrough"
    HOST_MODEL = "host-model"
    CUSTOM = "custom"  # a named model


class CPUModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: CPUMode = CPUMode.HOST_MODEL
    model: str | None = Field(None, description="named model, e.g. Haswell-noTSX (mode = custom)")
    require: tuple[str, ...] = Field((), description="CPU features the VM must have")
    forbid: tuple[str, ...] = Field((), description="CPU features the VM must not have")

    @model_validator(mode="after")
    def _check(self) -> "CPUModel":
        if self.mode is CPUMode.CUSTOM and not self.model:
            raise ValueError("a custom CPU model needs a model name")
        if self.mode is not CPUMode.CUSTOM and self.model:
            raise ValueError(f"mode {self.mode.value} takes no model name (got {self.model!r})")
        both = set(self.require) & set(self.forbid)
        if both:
            raise ValueError(f"CPU feature(s) both required and forbidden: {', '.join(sorted(both))}")
        return self

    @classmethod
    def parse(cls, text: str) -> "CPUModel":
        """``host-passthrough``, ``host-model``, or ``Model[,+feat][,-feat]`` (e.g. ``Haswell,+vmx,-avx``)."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise ValueError("empty CPU model")
        head, feats = parts[0], parts[1:]
        require = tuple(f[1:] for f in feats if f.startswith("+"))
        forbid = tuple(f[1:] for f in feats if f.startswith("-"))
        bad = [f for f in feats if f[0] not in "+-"]
        if bad:
            raise ValueError(f"CPU features must start with + or -: {', '.join(bad)}")
        if head in (CPUMode.HOST_PASSTHROUGH.value, CPUMode.HOST_MODEL.value):
            return cls(mode=CPUMode(head), require=require, forbid=forbid)
        return cls(mode=CPUMode.CUSTOM, model=head, require=require, forbid=forbid)

    def element(self) -> ET.Element:
        cpu = ET.Element("cpu", mode=self.mode.value)
        if self.mode is CPUMode.CUSTOM:
            cpu.set("match", "exact")
            ET.SubElement(cpu, "model", fallback="forbid").text = self.model
        elif self.mode is CPUMode.HOST_PASSTHROUGH:
            cpu.set("check", "none")
        for f in self.require:
            ET.SubElement(cpu, "feature", policy="require", name=f)
        for f in self.forbid:
            ET.SubElement(cpu, "feature", policy="disable", name=f)
        return cpu

    def to_xml(self) -> str:
        return ET.tostring(self.element(), encoding="unicode")


def resolve_cpu(
    vm: CPUModel | None, host: CPUModel | None = None, cluster: CPUModel | None = None
) -> CPUModel | None:
    """The CPU model a VM gets: its own, else its host's, else the cluster default."""
    for choice in (vm, host, cluster):
        if choice is not None:
            return choice
    return None
